using System.Runtime.InteropServices;
using CurvNative.Native;

namespace CurvNative.Distributed;

/// <summary>
/// MPI_COMM_WORLD through libcurvnative_mpi.so (kernels/mpi/curvnative_mpi.c, built where CMake finds mpi.h:
/// Debian's mpich and libmpich-dev). Loaded only when a process asks for it, so one process needs no MPI.
/// A failed MPI call throws <see cref="MpiException"/>; <see cref="Abort"/> ends every process.
/// </summary>
public sealed unsafe partial class MpiCommunicator : Communicator
{
    private const string Lib = "curvnative_mpi";
    private static MpiCommunicator? _world;
    private static readonly Lock Gate = new();

    static MpiCommunicator() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(Lib, EntryPoint = "cn_mpi_init")] private static partial int cn_mpi_init(int* rank, int* size);
    [LibraryImport(Lib, EntryPoint = "cn_mpi_finalize")] private static partial int cn_mpi_finalize();
    [LibraryImport(Lib, EntryPoint = "cn_mpi_abort")] private static partial int cn_mpi_abort(int code);
    [LibraryImport(Lib, EntryPoint = "cn_mpi_allreduce_sum_f64")] private static partial int cn_mpi_allreduce_sum_f64(double* values, long count);
    [LibraryImport(Lib, EntryPoint = "cn_mpi_allreduce_max_i32")] private static partial int cn_mpi_allreduce_max_i32(int* value);
    [LibraryImport(Lib, EntryPoint = "cn_mpi_error_string")] private static partial int cn_mpi_error_string(int code, byte* text, int capacity);

    private MpiCommunicator(int rank, int size) { Rank = rank; Size = size; }

    /// <inheritdoc/>
    public override int Rank { get; }

    /// <inheritdoc/>
    public override int Size { get; }

    /// <summary>Whether this process was started by an MPI launcher with more than one process (PMI_SIZE from
    /// MPICH's Hydra, OMPI_COMM_WORLD_SIZE from Open MPI); false for a plain process.</summary>
    public static bool LaunchedWithSeveralProcesses
        => (int.TryParse(Environment.GetEnvironmentVariable("PMI_SIZE"), out int p) && p > 1)
        || (int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int o) && o > 1);

    /// <summary>MPI_COMM_WORLD, initialising MPI on first use.</summary>
    /// <exception cref="DllNotFoundException">libcurvnative_mpi.so or the MPI library cannot be loaded.</exception>
    /// <exception cref="MpiException">MPI_Init failed.</exception>
    public static MpiCommunicator World
    {
        get
        {
            lock (Gate)
            {
                if (_world is not null) return _world;
                int rank = 0, size = 0, rc;
                try { rc = cn_mpi_init(&rank, &size); }
                catch (DllNotFoundException e)
                {
                    throw new DllNotFoundException(
                        $"MPI is not available: libcurvnative_mpi.so could not be loaded ({e.Message}). Install MPICH (apt-get install mpich libmpich-dev) and rebuild, or run without mpiexec.", e);
                }
                Check(rc, "MPI_Init");
                return _world = new MpiCommunicator(rank, size);
            }
        }
    }

    /// <inheritdoc/>
    public override void AllReduceSum(Span<double> values)
    {
        fixed (double* p = values) Check(cn_mpi_allreduce_sum_f64(p, values.Length), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public override bool AllAgree(bool ok)
    {
        int failed = ok ? 0 : 1;
        Check(cn_mpi_allreduce_max_i32(&failed), "MPI_Allreduce");
        return failed == 0;
    }

    /// <summary>Ends every process of the communicator with <paramref name="exitCode"/> (MPI_Abort): for a process
    /// that fails while the others may wait in a collective call for it.</summary>
    public void Abort(int exitCode) => cn_mpi_abort(exitCode);

    /// <summary>MPI_Finalize (a collective call; after it no communication is possible).</summary>
    public void Shutdown() => Check(cn_mpi_finalize(), "MPI_Finalize");

    private static void Check(int code, string call)
    {
        if (code == 0) return;
        var text = stackalloc byte[512];
        cn_mpi_error_string(code, text, 512);
        throw new MpiException(code, $"{call} failed (MPI error {code}: {Marshal.PtrToStringUTF8((IntPtr)text)}).");
    }
}

/// <summary>An MPI call returned an error code.</summary>
public sealed class MpiException(int code, string message) : Exception(message)
{
    /// <summary>The MPI error code.</summary>
    public int Code { get; } = code;
}

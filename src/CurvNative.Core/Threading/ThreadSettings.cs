using CurvNative.Native;

namespace CurvNative.Threading;

/// <summary>
/// The one thread knob of CurvNative: how many cores a process uses. <see cref="Set"/> sizes, together, OpenBLAS's
/// pool (openblas_set_num_threads), the native kernels' pool (libcurvnative's cn_set_num_threads) and the managed
/// parallelism over independent pieces of work (mini-batches of a curvature product, KFAC's batches, an
/// estimator's probe blocks). Managed workers run with OpenBLAS and the kernels at one thread each, so the three
/// never oversubscribe the cores: either BLAS threads one large GEMM, or the workers share out small ones.
/// <para>Results over several pieces do not depend on the count: every piece is computed whole by one worker with
/// OpenBLAS at one thread, and the pieces are added in a fixed order (see the remarks of the parallel operations).
/// A single large piece (one batch) runs its GEMMs on OpenBLAS's threads, whose split of the work can change the last
/// bits for some shapes (a 256 x 256 x 10 sgemm differs in 24 of 2,560 elements between one and two threads); the
/// same count gives the same bits. Eigendecompositions always run with OpenBLAS at one thread.</para>
/// </summary>
public static class ThreadSettings
{
    private static int _count = DefaultCount;

    /// <summary>The thread count in force (at least 1). Until <see cref="Set"/> is called, <see cref="DefaultCount"/>
    /// for managed work, and OpenBLAS and the kernels keep what their own environment variables gave them.</summary>
    public static int Count => Volatile.Read(ref _count);

    /// <summary>
    /// CURVNATIVE_NUM_THREADS when set to a positive integer; otherwise the CPUs this process may run on divided by
    /// the processes an MPI launcher started on this node (MPI_LOCALNRANKS from MPICH,
    /// OMPI_COMM_WORLD_LOCAL_SIZE from Open MPI), at least 1.
    /// </summary>
    public static int DefaultCount
    {
        get
        {
            if (PositiveEnvironment("CURVNATIVE_NUM_THREADS") is { } configured) return configured;
            int localRanks = PositiveEnvironment("MPI_LOCALNRANKS") ?? PositiveEnvironment("OMPI_COMM_WORLD_LOCAL_SIZE") ?? 1;
            return Math.Max(1, Environment.ProcessorCount / localRanks);
        }
    }

    /// <summary>The largest thread count accepted (the native pool's limit).</summary>
    public const int MaxCount = 64;

    /// <summary>Uses <paramref name="threads"/> threads from now on, for OpenBLAS, the native kernels and managed work.
    /// Call it between computations, not during one.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is not in [1, <see cref="MaxCount"/>].</exception>
    public static void Set(int threads)
    {
        if (threads is < 1 or > MaxCount)
            throw new ArgumentOutOfRangeException(nameof(threads), $"The thread count must be between 1 and {MaxCount}, got {threads}.");
        NativeThreads.Set(threads);
        Volatile.Write(ref _count, threads);
    }

    private static int? PositiveEnvironment(string name)
        => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v >= 1 ? Math.Min(v, MaxCount) : null;
}

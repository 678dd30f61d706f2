using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// The thread controls of libcurvnative.so (kernels/include/curvnative.h): the size of the kernels' pool together
/// with OpenBLAS's global thread count, and the serial sections inside which the host's own workers call kernels
/// and BLAS on one thread each.
/// </summary>
internal static partial class NativeThreads
{
    private const string Lib = "curvnative";
    private const string OpenBlas = "openblas";

    static NativeThreads() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(Lib, EntryPoint = "cn_set_num_threads")] private static partial int cn_set_num_threads(int threads);
    [LibraryImport(Lib, EntryPoint = "cn_get_num_threads")] private static partial int cn_get_num_threads();
    [LibraryImport(Lib, EntryPoint = "cn_serial_enter")] private static partial int cn_serial_enter();
    [LibraryImport(Lib, EntryPoint = "cn_serial_leave")] private static partial int cn_serial_leave();
    [LibraryImport(OpenBlas, EntryPoint = "openblas_get_num_threads")] private static partial int openblas_get_num_threads();

    /// <summary>Sets the kernels' pool and OpenBLAS to <paramref name="threads"/> threads.</summary>
    public static void Set(int threads) => Check(cn_set_num_threads(threads), "cn_set_num_threads");

    /// <summary>The kernels' pool size.</summary>
    public static int Kernels => cn_get_num_threads();

    /// <summary>OpenBLAS's current global thread count (the threaded build's).</summary>
    public static int Blas => openblas_get_num_threads();

    /// <summary>Opens a serial section (OpenBLAS at 1 thread, kernel loops inline); dispose to close it.</summary>
    public static SerialSection EnterSerial()
    {
        Check(cn_serial_enter(), "cn_serial_enter");
        return new SerialSection();
    }

    /// <summary>An open serial section.</summary>
    public readonly struct SerialSection : IDisposable
    {
        public void Dispose() => Check(cn_serial_leave(), "cn_serial_leave");
    }

    private static void Check(int status, string function)
    {
        if (status != 0) throw new NativeKernelException(function, status, $"{function}: {NativeKernels.StatusMessage(status)}");
    }
}

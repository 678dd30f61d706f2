using System.Reflection;
using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// Maps the logical library names used by the bindings ("openblas", "curvnative") to files on
/// this machine and turns a failed load into one sentence that names the package to install.
/// </summary>
internal static class NativeLibraryResolver
{
    private static int _registered;

    /// <summary>The logical name of OpenBLAS's single-threaded build, used where results must not depend on
    /// OpenBLAS's threading (see <see cref="Lapack.SymmetricEigen{T}"/>); falls back to the threaded build.</summary>
    public const string SerialOpenBlas = "openblas-serial";

    /// <summary>Whether <see cref="SerialOpenBlas"/> resolved to the single-threaded build (false until first use
    /// or when only the threaded build is installed).</summary>
    public static bool SerialOpenBlasLoaded { get; private set; }

    private static IEnumerable<string> SerialOpenBlasCandidates()
    {
        if (Environment.GetEnvironmentVariable("CURVNATIVE_SERIAL_OPENBLAS") is { Length: > 0 } env) yield return env;
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib" })
            yield return Path.Combine(dir, "openblas-serial", "libopenblas.so.0");
    }

    public static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name == "openblas")
        {
            foreach (var candidate in new[] { "libopenblas.so.0", "libopenblas.so", "libblas.so.3" })
                if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
            throw new DllNotFoundException(
                "OpenBLAS could not be loaded (tried libopenblas.so.0, libopenblas.so, libblas.so.3): install the Debian package libopenblas-dev.");
        }
        if (name == SerialOpenBlas)
        {
            // Debian's libopenblas0-serial sits beside the threaded build; loaded locally, it keeps its own symbols.
            foreach (var candidate in SerialOpenBlasCandidates())
                if (NativeLibrary.TryLoad(candidate, out var handle)) { SerialOpenBlasLoaded = true; return handle; }
            return Resolve("openblas", assembly, path);
        }
        if (name is "curvnative" or "curvnative_mpi")
        {
            var dir = Path.GetDirectoryName(assembly.Location) ?? AppContext.BaseDirectory;
            var file = $"lib{name}.so";
            foreach (var candidate in new[] { Path.Combine(dir, file), Path.Combine(AppContext.BaseDirectory, file), file })
                if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
            throw new DllNotFoundException(name == "curvnative"
                ? $"libcurvnative.so could not be loaded from {dir}: run 'dotnet build' with cmake, g++ and the Debian package libopenblas-dev installed."
                : $"{file} could not be loaded from {dir}: it is built only where MPI is installed (apt-get install mpich libmpich-dev, then 'dotnet build').");
        }
        return IntPtr.Zero;
    }
}

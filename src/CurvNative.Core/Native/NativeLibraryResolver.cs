using System.Reflection;
using System.Runtime.InteropServices;

namespace CurvNative.Native;

/// <summary>
/// Maps the logical library names used by the bindings ("openblas", "curvnative") to files on
/// this machine and turns a failed load into one sentence that names the package to install.
/// </summary>
internal static partial class NativeLibraryResolver
{
    private static int _registered;

    public static void EnsureRegistered()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        ShortenOpenBlasSpin();
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
    }

    /// <summary>The OpenBLAS spin time, in log2 CPU cycles, that this process asks for unless the user set one.</summary>
    internal const int OpenBlasThreadTimeout = 23;

    /// <summary>
    /// OpenBLAS's idle workers busy-wait 2^28 cycles (~0.1 s) after a threaded call before they sleep, on the
    /// cores that CurvNative's own workers need next (mini-batches, probe blocks): measured on two cores, that
    /// spin took the whole second core and cut the managed speed-up to 1.0x. 2^23 cycles (~3 ms) still covers
    /// the gaps between the GEMMs of one pass. OpenBLAS reads OPENBLAS_THREAD_TIMEOUT from the native
    /// environment when it loads, so it is set there (not through Environment, whose changes stay managed),
    /// before the first binding resolves; a value the user set wins.
    /// </summary>
    private static void ShortenOpenBlasSpin()
    {
        try { _ = setenv("OPENBLAS_THREAD_TIMEOUT", OpenBlasThreadTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture), 0); }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name == "openblas")
        {
            foreach (var candidate in new[] { "libopenblas.so.0", "libopenblas.so", "libblas.so.3" })
                if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
            throw new DllNotFoundException(
                "OpenBLAS could not be loaded (tried libopenblas.so.0, libopenblas.so, libblas.so.3): install the Debian package libopenblas-dev.");
        }
        if (name is "curvnative" or "curvnative_mpi")
        {
            var dir = Path.GetDirectoryName(assembly.Location) ?? AppContext.BaseDirectory;
            var file = $"lib{name}.so";
            foreach (var candidate in CurvNativeCandidates(dir, file))
                if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
            throw new DllNotFoundException(name == "curvnative"
                ? $"libcurvnative.so could not be loaded from {dir} or the application's native asset directories: " +
                  "reference the package CurvNative (linux-x64), or in a clone run 'dotnet build' with cmake, g++ and the Debian package libopenblas-dev installed."
                : $"{file} could not be loaded from {dir}: it is built only where MPI is installed (apt-get install mpich libmpich-dev, then 'dotnet build').");
        }
        return IntPtr.Zero;
    }

    /// <summary>Beside the assembly (a build of this repository, a .NET tool, a RID-specific publish), then the
    /// directories where the host placed the application's native assets from deps.json (an application that
    /// references the package: runtimes/linux-x64/native/ under its output or in the NuGet cache).</summary>
    private static IEnumerable<string> CurvNativeCandidates(string assemblyDir, string file)
    {
        yield return Path.Combine(assemblyDir, file);
        yield return Path.Combine(AppContext.BaseDirectory, file);
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string dirs)
            foreach (var d in dirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                yield return Path.Combine(d, file);
        yield return file;
    }
}

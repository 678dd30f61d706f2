using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace CurvNative.Benchmarks;

/// <summary>
/// Thread pinning shared with tools/bench_torch.py (plus one GC knob, see For). OpenBLAS (Debian's pthreads build, the same library torch
/// uses) and libcurvnative's pool read their thread counts from the environment when they load, and
/// Environment.SetEnvironmentVariable does not change the native environment on Unix, so the process re-runs
/// itself with the variables set, as the Python script does.
/// </summary>
internal static partial class ThreadEnv
{
    private const string ReexecMark = "CURVNATIVE_BENCH_REEXEC";

    /// <summary>The variables for T threads: both BLAS pools, OpenMP (torch) and libcurvnative's own pool,
    /// plus <see cref="Gc"/>.</summary>
    public static Dictionary<string, string> For(int threads) => new(Gc)
    {
        ["OPENBLAS_NUM_THREADS"] = threads.ToString(),
        ["OMP_NUM_THREADS"] = threads.ToString(),
        ["MKL_NUM_THREADS"] = threads.ToString(),
        ["CURVNATIVE_NUM_THREADS"] = threads.ToString(),
        // bench_torch.py's default: idle libgomp workers must not spin against OpenBLAS's threads.
        ["OMP_WAIT_POLICY"] = "PASSIVE",
    };

    /// <summary>
    /// A 256 MB gen0 budget. .NET 10 reads this knob only from the environment (System.GC.Gen0Size in
    /// runtimeconfig.json has no effect). 64 MB (the earlier setting) already turned the MLP gradient's gen1 GC
    /// every ~12 steps into a gen0 GC every ~18; but the CNN's curvature products allocate 50-100 MB per call
    /// with 30-55 MB of their graph live at any collection, so at 64 MB nearly every GC was a gen1 GC and the
    /// regions it freed came back as fresh pages: 1500-2000 page faults and 5-8 ms of GC pause per call in the
    /// benchmark process (CNN HVP 41 -> 65 ms, KFAC type-2 65 -> 135 ms between runs). At 256 MB those products
    /// fault a few hundred times per call; the MLP rows do not change.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Gc { get; } = new Dictionary<string, string>
    {
        ["DOTNET_GCgen0size"] = "0x10000000",
    };

    public static bool IsPinned(int threads) => For(threads).All(kv => Environment.GetEnvironmentVariable(kv.Key) == kv.Value);

    /// <summary>Runs this program again with the environment pinned to T threads and returns its exit code.</summary>
    public static int Reexec(int threads, string[] args)
    {
        if (Environment.GetEnvironmentVariable(ReexecMark) is not null)
            throw new InvalidOperationException("ThreadEnv: the thread environment was not set on re-exec.");
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("No process path to re-exec.");
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false };
        // Under 'dotnet X.dll' the host is dotnet and the program is the entry assembly.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
            psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in For(threads)) psi.Environment[k] = v;
        psi.Environment[ReexecMark] = "1";
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        return p.ExitCode;
    }

    [LibraryImport("libopenblas.so.0")] private static partial int openblas_get_num_threads();
    [LibraryImport("libopenblas.so.0")] private static partial void openblas_set_num_threads(int n);
    [LibraryImport("libopenblas.so.0")] private static partial IntPtr openblas_get_config();

    /// <summary>Belt and braces after the environment: also set the count through the API (as bench_torch.py does).</summary>
    public static void PinOpenBlas(int threads) => openblas_set_num_threads(threads);

    public static int OpenBlasThreads => openblas_get_num_threads();

    public static string OpenBlasConfig => Marshal.PtrToStringUTF8(openblas_get_config()) ?? "?";
}

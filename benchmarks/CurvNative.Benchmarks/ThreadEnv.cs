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
    /// A 64 MB gen0 budget, as Directory.Build.props intends. .NET 10 reads this knob only from the environment
    /// (System.GC.Gen0Size in runtimeconfig.json has no effect): on the MLP gradient it turns a gen1 GC every
    /// ~12 steps into a gen0 GC every ~18 and removes most page faults, about 1 ms of CPU per step.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Gc { get; } = new Dictionary<string, string>
    {
        ["DOTNET_GCgen0size"] = "0x4000000",
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

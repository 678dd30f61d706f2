using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace CurvNative.Benchmarks;

/// <summary>
/// Quick ours-vs-PyTorch table: each workload timed with warm-up + median of N Stopwatch runs, then
/// tools/bench_torch.py run in the same process tree with the same thread pinning. With --runs R the whole
/// measurement (ours, then PyTorch) is repeated R times; the table keeps the median run (by the geometric
/// mean of the two gradient ratios) and shows the spread of every ratio over the runs.
/// </summary>
internal static class RatioMode
{
    private const string Usage =
        "ratio [--threads T=1] [--runs R=1] [--warmup W=5] [--repeats N=50] [--python /usr/bin/python3] [--no-torch]";

    internal sealed record Timing(double MedianMs, double P25Ms, double P75Ms, double MinMs);

    private sealed class RunResult
    {
        public Dictionary<string, Timing> Ours { get; } = new();
        public Dictionary<string, double> Torch { get; } = new();   // median ms per key, as the JSON has them
        public string? TorchJson { get; set; }
        public double? Ratio(string key) => Torch.TryGetValue(key, out var t) && Ours.TryGetValue(key, out var o) ? o.MedianMs / t : null;
    }

    // Row key (bench_torch.py's JSON key), label, target.
    private static readonly (string Key, string Label, string Target)[] Rows =
    [
        ("mlp_grad_ms", "MLP gradient (fwd+bwd, batch 256)", "ratio <= 1.0, >= 60% of sgemm"),
        ("cnn_grad_ms", "CNN gradient (fwd+bwd, batch 64)", "ratio <= 1.2"),
        ("mlp_fwd_ms", "MLP forward + loss", "-"),
        ("cnn_fwd_ms", "CNN forward + loss", "-"),
        ("sgemm_1024_ms", "sgemm 1024x1024x1024", "(same OpenBLAS: ~1)"),
        ("sgemm_256x784x256_ms", "sgemm 256x784x256", "(same OpenBLAS: ~1)"),
    ];

    private const double WarmupSeconds = 1.0;

    private const double Sgemm1024Flops = 2.0 * 1024 * 1024 * 1024, Sgemm256Flops = 2.0 * 256 * 784 * 256;

    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int threads, runs, warmup, repeats;
        string python;
        bool noTorch;
        try
        {
            threads = Program.TakeOption(rest, "--threads") ?? 1;
            runs = Program.TakeOption(rest, "--runs") ?? 1;
            warmup = Program.TakeOption(rest, "--warmup") ?? 5;
            repeats = Program.TakeOption(rest, "--repeats") ?? 50;
            python = TakeString(rest, "--python") ?? PythonReference.DefaultPython;
            noTorch = rest.Remove("--no-torch");
            if (rest.Count > 0) throw new ArgumentException($"unknown arguments: {string.Join(' ', rest)}");
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"{e.Message}\nusage: {Usage}");
            return 2;
        }
        if (!ThreadEnv.IsPinned(threads)) return ThreadEnv.Reexec(threads, args);
        ThreadEnv.PinOpenBlas(threads);
        noTorch = !PythonReference.Use(noTorch, python, "ratio", "torch");

        var root = FindRepoRoot();
        var results = new List<RunResult>();
        for (int r = 0; r < runs; r++)
        {
            var run = new RunResult();
            // Alternate the order (ours first in odd runs, PyTorch first in even ones), so a change of load
            // on the shared machine during a run does not always favour the same side.
            bool torchFirst = r % 2 == 1 && !noTorch;
            if (torchFirst) MeasureTorch(run, r, runs, root, python, threads, warmup, repeats);
            Console.Error.WriteLine($"ratio: run {r + 1}/{runs}, threads {threads}: CurvNative ...");
            MeasureOurs(run, warmup, repeats);
            if (!torchFirst && !noTorch) MeasureTorch(run, r, runs, root, python, threads, warmup, repeats);
            results.Add(run);
            Console.Error.WriteLine("ratio: " + string.Join(", ", Rows.Select(row =>
                $"{row.Key} {Fmt(run.Ours[row.Key].MedianMs)}" + (run.Ratio(row.Key) is { } q ? $" ({q:F2}x)" : ""))));
        }

        int kept = MedianRun(results);
        string table = Render(results, kept, threads, warmup, repeats);
        Console.WriteLine(table);
        if (noTorch) return 0; // a table without PyTorch does not replace the recorded results
        var dir = Path.Combine(root, "benchmarks", "results");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"ratio-{threads}.md"), table);
        if (results[kept].TorchJson is { } json) File.WriteAllText(Path.Combine(dir, $"torch_t{threads}.json"), json);
        Console.Error.WriteLine($"ratio: wrote {Path.Combine(dir, $"ratio-{threads}.md")}");
        return 0;
    }

    private static void MeasureOurs(RunResult run, int warmup, int repeats)
    {
        var mlp = GradientWorkload.Mlp();
        var cnn = GradientWorkload.Cnn();
        var big = new SgemmWorkload(1024, 1024, 1024);
        var small = new SgemmWorkload(256, 784, 256);
        run.Ours["mlp_grad_ms"] = Time(() => mlp.Gradient(), warmup, repeats);
        run.Ours["cnn_grad_ms"] = Time(() => cnn.Gradient(), warmup, repeats);
        run.Ours["mlp_fwd_ms"] = Time(() => mlp.Forward(), warmup, repeats);
        run.Ours["cnn_fwd_ms"] = Time(() => cnn.Forward(), warmup, repeats);
        // As bench_torch.py: at least 20 repeats of the big GEMM.
        run.Ours["sgemm_1024_ms"] = Time(big.Run, warmup, Math.Max(20, repeats / 2));
        run.Ours["sgemm_256x784x256_ms"] = Time(small.Run, warmup, repeats);
    }

    internal static Timing Time(Action f, int warmup, int repeats)
    {
        Warm(f, warmup);
        // Start each workload from an empty gen0, so one workload's garbage is not collected in another's timing.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var ts = new double[repeats];
        var probe = Diagnostics.Start();
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            f();
            ts[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Console.Error.WriteLine($"ratio:   {probe.Stop(repeats)}, median {ts.Order().ElementAt(repeats / 2):F2} ms");
        Array.Sort(ts);
        double Q(double f) => ts[Math.Min(ts.Length - 1, (int)(f * ts.Length))];
        return new Timing(Median(ts), Q(0.25), Q(0.75), ts[0]);
    }

    /// <summary>The median of <paramref name="sorted"/> (ascending, not empty).</summary>
    internal static double Median(IReadOnlyList<double> sorted)
        => sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;

    /// <summary>Calls <paramref name="f"/> until its timing is steady (see the comments).</summary>
    /// <param name="f">The workload.</param>
    /// <param name="warmup">The fewest calls.</param>
    /// <param name="agree">For several processes that must make the same calls (MPI): turns this process's
    /// decision to stop into the common one (stop when every process would).</param>
    internal static void Warm(Action f, int warmup, Func<bool, bool>? agree = null)
    {
        // At least W calls and one second, and then on until the JIT has compiled nothing for a quarter of a
        // second (at most 10 s): tiered compilation reaches optimized code only after call counting, an
        // instrumented tier and background recompilation, and timing before that measured 2-3x slower
        // code in the first workload of a process.
        // Also until two gen0 GCs have run: before the first one, every allocation touches fresh pages of the
        // gen0 budget (page faults), which the steady state does not.
        long start = Stopwatch.GetTimestamp(), quietSince = start;
        long jitted = System.Runtime.JitInfo.GetCompiledMethodCount();
        int gcs = GC.CollectionCount(0);
        for (int i = 0; ; i++)
        {
            f();
            long now = Stopwatch.GetTimestamp(), count = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (count != jitted) { jitted = count; quietSince = now; }
            double elapsed = Stopwatch.GetElapsedTime(start, now).TotalSeconds;
            bool done = (i + 1 >= warmup && elapsed >= WarmupSeconds && Stopwatch.GetElapsedTime(quietSince, now).TotalSeconds >= 0.25
                && GC.CollectionCount(0) - gcs >= 2) || elapsed >= 10;
            if (agree is not null) done = agree(done);
            if (done) break;
        }
    }

    private static void MeasureTorch(RunResult run, int r, int runs, string root, string python, int threads, int warmup, int repeats)
    {
        Console.Error.WriteLine($"ratio: run {r + 1}/{runs}, threads {threads}: PyTorch ...");
        RunTorch(run, root, python, threads, warmup, repeats);
    }

    private static void RunTorch(RunResult run, string root, string python, int threads, int warmup, int repeats)
    {
        var outFile = Path.Combine(Path.GetTempPath(), $"curvnative-torch-{Environment.ProcessId}-{threads}.json");
        // The environment is already pinned (ThreadEnv), so the script does not need to re-exec itself.
        PythonReference.Run(python, root, "bench_torch.py", "--threads", threads.ToString(), "--warmup", warmup.ToString(),
            "--repeats", repeats.ToString(), "--skip-second-order", "--out", outFile);
        var json = File.ReadAllText(outFile);
        File.Delete(outFile);
        run.TorchJson = json;
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        foreach (var key in new[] { "mlp_grad_ms", "cnn_grad_ms", "mlp_fwd_ms", "cnn_fwd_ms" })
            if (r.TryGetProperty(key, out var v)) run.Torch[key] = v.GetDouble();
        run.Torch["sgemm_1024_ms"] = Sgemm1024Flops / r.GetProperty("sgemm_gflops").GetDouble() / 1e6;
        run.Torch["sgemm_256x784x256_ms"] = Sgemm256Flops / r.GetProperty("sgemm_256x784x256_gflops").GetDouble() / 1e6;
    }

    /// <summary>The run whose geometric-mean gradient ratio is the median (the first run without PyTorch).</summary>
    private static int MedianRun(List<RunResult> runs)
    {
        var scored = runs.Select((r, i) => (i, s: r.Ratio("mlp_grad_ms") is { } a && r.Ratio("cnn_grad_ms") is { } b ? Math.Sqrt(a * b) : 0))
            .OrderBy(x => x.s).ToList();
        return scored[(scored.Count - 1) / 2].i;
    }

    private static string Render(List<RunResult> runs, int kept, int threads, int warmup, int repeats)
    {
        var run = runs[kept];
        var sb = new StringBuilder();
        sb.AppendLine($"# CurvNative vs PyTorch, float32, {threads} thread{(threads == 1 ? "" : "s")}");
        sb.AppendLine();
        sb.AppendLine($"Generated by `dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- ratio --threads {threads}" +
                      (runs.Count > 1 ? $" --runs {runs.Count}" : "") + "`. " +
                      $"Times are medians of {repeats} timed calls (sgemm 1024: {Math.Max(20, repeats / 2)}) after a warm-up of " +
                      $"{warmup} calls and at least {WarmupSeconds:F0} s, until the JIT has been idle for 0.25 s and two GCs have run (ours: optimized code and a touched gen0; PyTorch: {warmup} calls).");
        if (runs.Count > 1)
            sb.AppendLine($"Whole measurement repeated {runs.Count} times; this is run {kept + 1}, the median by the geometric mean " +
                          "of the two gradient ratios; the last column is the ratio's min-max over all runs.");
        sb.AppendLine();
        double peak = Sgemm1024Flops / run.Ours["sgemm_1024_ms"].MedianMs / 1e6;
        sb.AppendLine("| workload | ours (ms) | PyTorch (ms) | ratio ours/PyTorch | target | met | achieved rate |" + (runs.Count > 1 ? " ratio spread |" : ""));
        sb.AppendLine("|---|---:|---:|---:|---|---|---|" + (runs.Count > 1 ? "---|" : ""));
        foreach (var (key, label, target) in Rows)
        {
            var o = run.Ours[key];
            double? t = run.Torch.TryGetValue(key, out var tv) ? tv : null;
            double? q = run.Ratio(key);
            string met = key switch
            {
                "mlp_grad_ms" => q is null ? "?" : q <= 1.0 && Workloads.MlpGradFlops / o.MedianMs / 1e6 >= 0.6 * peak ? "yes" : "no",
                "cnn_grad_ms" => q is null ? "?" : q <= 1.2 ? "yes" : "no",
                _ => "",
            };
            string rate = key switch
            {
                "mlp_grad_ms" => RateText(Workloads.MlpGradFlops, o.MedianMs, t, peak),
                "mlp_fwd_ms" => RateText(Workloads.MlpForwardFlops, o.MedianMs, t, peak),
                "sgemm_1024_ms" => $"{Sgemm1024Flops / o.MedianMs / 1e6:F1} vs {(t is { } a ? (Sgemm1024Flops / a / 1e6).ToString("F1", CultureInfo.InvariantCulture) : "?")} GFLOP/s",
                "sgemm_256x784x256_ms" => $"{Sgemm256Flops / o.MedianMs / 1e6:F1} vs {(t is { } b ? (Sgemm256Flops / b / 1e6).ToString("F1", CultureInfo.InvariantCulture) : "?")} GFLOP/s",
                _ => "",
            };
            sb.Append($"| {label} | {Fmt(o.MedianMs)} [{Fmt(o.P25Ms)}-{Fmt(o.P75Ms)}] | {(t is { } tt ? Fmt(tt) : "n/a")} | {(q is { } qq ? qq.ToString("F2", CultureInfo.InvariantCulture) : "n/a")} | {target} | {met} | {rate} |");
            if (runs.Count > 1)
            {
                var qs = runs.Select(r => r.Ratio(key)).OfType<double>().ToList();
                sb.Append(qs.Count > 0 ? $" {qs.Min():F2}-{qs.Max():F2} |" : " n/a |");
            }
            sb.AppendLine();
        }
        if (runs.Count > 1)
        {
            sb.AppendLine();
            sb.AppendLine("Every run (ratio ours/PyTorch; * = the run shown above):");
            sb.AppendLine();
            sb.AppendLine("| run | order | MLP gradient | CNN gradient | MLP forward | CNN forward | MLP gradient, % of sgemm |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            for (int i = 0; i < runs.Count; i++)
            {
                var r = runs[i];
                string Q(string k) => r.Ratio(k) is { } v ? v.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
                double frac = Workloads.MlpGradFlops / r.Ours["mlp_grad_ms"].MedianMs / (Sgemm1024Flops / r.Ours["sgemm_1024_ms"].MedianMs);
                sb.AppendLine($"| {i + 1}{(i == kept ? " *" : "")} | {(i % 2 == 1 ? "PyTorch first" : "ours first")} | {Q("mlp_grad_ms")} | {Q("cnn_grad_ms")} | {Q("mlp_fwd_ms")} | {Q("cnn_fwd_ms")} | {frac:P0} |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("Ours: median [p25-p75] in ms. PyTorch: median from tools/bench_torch.py in the same run " +
                      $"(its JSON is benchmarks/results/torch_t{threads}.json).");
        sb.AppendLine();
        sb.AppendLine("Achieved rate = GEMM FLOPs / median time, as a fraction of our 1024³ sgemm rate in the same run " +
                      $"({peak:F1} GFLOP/s). MLP gradient FLOPs = 2B(784·256 + 256·256 + 256·10) forward " +
                      "+ the same for the weight gradients + 2B(256·256 + 256·10) for the input gradients of layers 2 and 3, " +
                      $"B = 256: 2·256·(2·268800 + 68096) = {Workloads.MlpGradFlops:N0} FLOP. MLP forward = 2B·268800 = {Workloads.MlpForwardFlops:N0} FLOP.");
        sb.AppendLine();
        sb.AppendLine($"Environment: {string.Join(", ", ThreadEnv.For(threads).Select(kv => $"{kv.Key}={kv.Value}"))}; " +
                      $"OpenBLAS threads {ThreadEnv.OpenBlasThreads} ({ThreadEnv.OpenBlasConfig}); {RuntimeInformation.FrameworkDescription}; " +
                      $"{Environment.ProcessorCount} CPUs; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        return sb.ToString();
    }

    private static string RateText(double flops, double oursMs, double? torchMs, double peak)
    {
        double r = flops / oursMs / 1e6;
        string s = $"{r:F1} GFLOP/s = {r / peak:P0} of sgemm";
        if (torchMs is { } t) s += $" (PyTorch {flops / t / 1e6 / peak:P0})";
        return s;
    }

    private static string Fmt(double ms) => ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);

    private static string? TakeString(List<string> args, string name)
    {
        int i = args.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= args.Count) throw new ArgumentException($"{name} needs a value.");
        var v = args[i + 1];
        args.RemoveRange(i, 2);
        return v;
    }

    internal static string FindRepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "CurvNative.sln")) && File.Exists(Path.Combine(d.FullName, "tools", "bench_torch.py")))
                    return d.FullName;
        throw new InvalidOperationException("Cannot find the repository root (CurvNative.sln) above the current or program directory.");
    }
}

/// <summary>Per-workload diagnostics printed to stderr: GCs, GC pause, page faults and CPU time per call.</summary>
internal readonly record struct Diagnostics(int Gc0, int Gc1, int Gc2, TimeSpan Pause, long MinorFaults, TimeSpan Cpu)
{
    public static Diagnostics Start() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
        GC.GetTotalPauseDuration(), MinorFaultCount(), Process.GetCurrentProcess().TotalProcessorTime);

    public string Stop(int calls)
    {
        var now = Start();
        return $"GCs {now.Gc0 - Gc0}/{now.Gc1 - Gc1}/{now.Gc2 - Gc2} (gen0/1/2), GC pause {(now.Pause - Pause).TotalMilliseconds / calls:F2} ms/call, " +
               $"{(now.MinorFaults - MinorFaults) / (double)calls:F0} page faults/call, CPU {(now.Cpu - Cpu).TotalMilliseconds / calls:F2} ms/call";
    }

    // Field 10 of /proc/self/stat (minflt); -1 where there is no procfs.
    private static long MinorFaultCount()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[7], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }
}

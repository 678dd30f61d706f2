using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CurvNative.NN.Modules;
using CurvNative.Pde;
using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release -- pde --threads T [--rounds R] [--no-warmup]</c>: the PDE-operator workload of Dangel et al. 2025
/// (tanh MLP D -> 768 -> 768 -> 512 -> 512 -> 1, float64, N = 256): exact Laplacian at D = 50 by collapsed, standard
/// Taylor mode and nested autodiff, the biharmonic at D = 5 and the stochastic Laplacian with R = 16 directions,
/// interleaved rounds, against PyTorch (tools/bench_pde_torch.py: a plain-torch forward Laplacian and nested double
/// backward) and the dgemm rate of the same run. Writes benchmarks/results/pde-T.md.
/// </summary>
internal static class PdeMode
{
    private static readonly int[] Hidden = [768, 768, 512, 512];

    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int threads = Program.TakeOption(rest, "--threads") ?? 1;
        int rounds = Program.TakeOption(rest, "--rounds") ?? 3;
        // 0 is allowed: every call is seconds of GEMMs, the JIT's share is small.
        int warmup = rest.Remove("--no-warmup") ? 0 : 1;
        if (!ThreadEnv.IsPinned(threads)) return ThreadEnv.Reexec(threads, args);
        ThreadEnv.PinOpenBlas(threads);
        var root = RatioMode.FindRepoRoot();
        const int n = 256, d = 50, dBih = 5, rStoch = 16;
        var model = Mlp(d, 1, Hidden);
        var modelBih = Mlp(dBih, 2, Hidden);
        var x = Points(n, d, 3);
        var xBih = Points(n, dBih, 4);
        var lap = PdeOperator<double>.Laplacian(d);
        var bih = PdeOperator<double>.Biharmonic(dBih);
        var stoch = lap.Stochastic(rStoch, DirectionDistribution.Gaussian, 5);

        // Agreement of the modes on the benchmark itself (max relative difference).
        var reference = PdeOps.Evaluate(model, x, lap, TaylorMode.Nested);
        double agree = Math.Max(RelDiff(reference, PdeOps.Evaluate(model, x, lap, TaylorMode.Collapsed)), RelDiff(reference, PdeOps.Evaluate(model, x, lap, TaylorMode.Standard)));

        // The PINN's network and batch (5 -> 64 -> 64 -> 48 -> 48 -> 1, N = 3,000): the loss gradient through the Laplacian.
        var pinn = Mlp(5, 3, [64, 64, 48, 48]);
        var pinnParams = pinn.Parameters().Select(p => p.Var).ToArray();
        var xPinn = Points(3000, 5, 8);
        var lapPinn = PdeOperator<double>.Laplacian(5);
        void LossGrad(Module<double> m, Tensor<double> pts, PdeOperator<double> op, TaylorMode mode, Autodiff.Var<double>[] ps)
            => Autodiff.Autograd.Grad(Autodiff.F.Mean(Autodiff.F.Square(PdeOps.Apply(m, pts, op, mode).Values)), ps);
        var modelParams = model.Parameters().Select(p => p.Var).ToArray();

        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        var torchBefore = Torch(root, threads, rounds);
        var a = Points(1024, 1024, 6);
        var b = Points(1024, 1024, 7);
        var work = new Interleaved()
            .Add("dgemm", () => TensorOps.MatMul(a, b, false, false), rounds * 3)
            .Add("lap collapsed", () => PdeOps.Evaluate(model, x, lap, TaylorMode.Collapsed), rounds)
            .Add("lap standard", () => PdeOps.Evaluate(model, x, lap, TaylorMode.Standard), rounds)
            .Add("lap nested", () => PdeOps.Evaluate(model, x, lap, TaylorMode.Nested), rounds)
            .Add("lap collapsed diff", () => PdeOps.Apply(model, x, lap, TaylorMode.Collapsed), rounds)
            .Add("lap collapsed grad", () => LossGrad(model, x, lap, TaylorMode.Collapsed, modelParams), rounds)
            .Add("pinn collapsed grad", () => LossGrad(pinn, xPinn, lapPinn, TaylorMode.Collapsed, pinnParams), rounds * 3)
            .Add("pinn nested grad", () => LossGrad(pinn, xPinn, lapPinn, TaylorMode.Nested, pinnParams), rounds * 3)
            .Add("bih collapsed", () => PdeOps.Evaluate(modelBih, xBih, bih, TaylorMode.Collapsed), rounds)
            .Add("bih standard", () => PdeOps.Evaluate(modelBih, xBih, bih, TaylorMode.Standard), rounds)
            .Add("stoch collapsed", () => PdeOps.Evaluate(model, x, stoch, TaylorMode.Collapsed), rounds)
            .Add("stoch standard", () => PdeOps.Evaluate(model, x, stoch, TaylorMode.Standard), rounds);
        work.Run(warmup);
        double gemmGflops = 2.0 * 1024 * 1024 * 1024 / work.Median("dgemm") / 1e6;

        // GEMM FLOPs of the collapsed Laplacian: 1 + D rows per point into the first layer, 2 + D after it.
        long macs = 0;
        int[] widths = [d, .. Hidden, 1];
        for (int l = 0; l < widths.Length - 1; l++) macs += (long)widths[l] * widths[l + 1] * n * (l == 0 ? 1 + d : 2 + d);
        double collapsedGflops = 2.0 * macs / work.Median("lap collapsed") / 1e6;
        double floorMs = 2.0 * macs / gemmGflops / 1e6;
        // The backward of the differentiable sweep: an input and a weight gradient GEMM per forward GEMM (3x the FLOPs).
        double gradFloorMs = 3 * floorMs;

        // Live memory of the differentiable result (graph kept for parameter gradients).
        double MiB(TaylorMode mode)
        {
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            long before = GC.GetTotalMemory(true);
            var result = PdeOps.Apply(model, x, lap, mode);
            long after = GC.GetTotalMemory(true);
            GC.KeepAlive(result);
            return (after - before) / 1048576.0;
        }
        // PyTorch's script times each workload back to back (warm-up, then the median of its repeats); the same for
        // ours, after the interleaved rounds, so that the comparison with PyTorch is like for like.
        double BackToBack(Action run)
        {
            run();
            var ms = new List<double>();
            for (int r = 0; r < Math.Max(rounds, 5); r++)
            {
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                run();
                ms.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            return RatioMode.Median(ms.Order().ToList());
        }
        double b2bGemm = BackToBack(() => TensorOps.MatMul(a, b, false, false));
        double b2bCollapsed = BackToBack(() => PdeOps.Evaluate(model, x, lap, TaylorMode.Collapsed));
        double b2bGemmGflops = 2.0 * 1024 * 1024 * 1024 / b2bGemm / 1e6;
        Console.Error.WriteLine($"back to back: dgemm {b2bGemm:F2} ms, lap collapsed {b2bCollapsed:F2} ms");

        double memCollapsed = MiB(TaylorMode.Collapsed), memNested = MiB(TaylorMode.Nested), memStandard = MiB(TaylorMode.Standard);

        var torchAfter = Torch(root, threads, rounds);
        string loadAfter = File.ReadAllText("/proc/loadavg").Trim();
        JsonElement? torch = torchBefore.Result ?? torchAfter.Result;
        string torchNote = torchBefore.Note;
        // PyTorch runs in its own process before and after our rounds: its time is the mean of the two medians.
        double TorchMs(string key)
        {
            var values = new[] { torchBefore.Result, torchAfter.Result }.Where(r => r is not null).Select(r => r!.Value.GetProperty(key).GetDouble()).ToArray();
            return values.Average();
        }

        string F2(double v) => v.ToString("F2", CultureInfo.InvariantCulture);
        string Ms(string name) => work.Median(name).ToString("F1", CultureInfo.InvariantCulture);
        double Ratio(string num, string den) => work.MedianOfRounds([num, den], t => t[0] / t[1]);
        var sb = new StringBuilder();
        sb.AppendLine($"# PDE operators by Taylor mode, {threads} thread(s)").AppendLine();
        sb.AppendLine($"Generated by `dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- pde --threads {threads} --rounds {rounds}` "
            + $"({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; OPENBLAS_NUM_THREADS = {threads} for both sides; {torchNote}).").AppendLine();
        sb.AppendLine($"Net: tanh MLP D -> {string.Join(" -> ", Hidden)} -> 1, float64, N = {n} points. Medians of {rounds} interleaved rounds; ratios are medians of per-round ratios. "
            + $"Modes agree to {agree:E1} (max relative difference to nested) on this workload.").AppendLine();
        sb.AppendLine("| workload | ms | ratio | target |");
        sb.AppendLine("|---|---:|---:|---|");
        sb.AppendLine($"| Laplacian D = 50, collapsed (values) | {Ms("lap collapsed")} | | |");
        sb.AppendLine($"| Laplacian D = 50, standard Taylor | {Ms("lap standard")} | collapsed/standard {F2(Ratio("lap collapsed", "lap standard"))} | <= 0.55 (theory (2+D)/(1+2D) = {F2(52.0 / 101)}) |");
        sb.AppendLine($"| Laplacian D = 50, nested autodiff (ours) | {Ms("lap nested")} | collapsed/nested {F2(Ratio("lap collapsed", "lap nested"))} | <= 0.45 |");
        sb.AppendLine($"| Laplacian D = 50, collapsed, differentiable (graph kept) | {Ms("lap collapsed diff")} | | |");
        sb.AppendLine($"| Laplacian D = 50, collapsed, differentiable + gradient of mean((Delta u)^2) w.r.t. the parameters | {Ms("lap collapsed grad")} | GEMM floor {gradFloorMs:F1} ms, floor / time {F2(gradFloorMs / work.Median("lap collapsed grad"))} | |");
        if (torch is not null)
        {
            double fl = TorchMs("forward_laplacian_ms"), nb = TorchMs("nested_laplacian_ms");
            sb.AppendLine($"| PyTorch forward Laplacian (plain torch ops) | {fl.ToString("F1", CultureInfo.InvariantCulture)} | collapsed/torch {F2(work.Median("lap collapsed") / fl)} | <= 1.0 |");
            sb.AppendLine($"| PyTorch nested double backward (D HVPs) | {nb.ToString("F1", CultureInfo.InvariantCulture)} | collapsed/torch {F2(work.Median("lap collapsed") / nb)} | <= 0.5 (floor: GEMM floor / torch = {F2(floorMs / nb)}) |");
            sb.AppendLine($"| Laplacian D = 50, collapsed (values), back to back as PyTorch's script times (median of {Math.Max(rounds, 5)} after a warm-up) | {b2bCollapsed.ToString("F1", CultureInfo.InvariantCulture)} | collapsed/torch nested {F2(b2bCollapsed / nb)}, collapsed/torch forward {F2(b2bCollapsed / fl)} | <= 0.5, <= 1.0 |");
        }
        sb.AppendLine($"| PINN net 5-64-64-48-48-1, N = 3000: collapsed Laplacian + loss gradient | {Ms("pinn collapsed grad")} | | |");
        sb.AppendLine($"| PINN net, nested autodiff Laplacian + loss gradient | {Ms("pinn nested grad")} | collapsed/nested {F2(Ratio("pinn collapsed grad", "pinn nested grad"))} | |");
        sb.AppendLine($"| Biharmonic D = 5, standard Taylor | {Ms("bih standard")} | | |");
        sb.AppendLine($"| Biharmonic D = 5, collapsed (first order shared) | {Ms("bih collapsed")} | collapsed/standard {F2(Ratio("bih collapsed", "bih standard"))} | near {F2(57.0 / 101)} (vectors 2D^2+D+2 / 4D^2+1; paper 0.77 for its direction set) |");
        sb.AppendLine($"| Stochastic Laplacian R = 16, standard | {Ms("stoch standard")} | | |");
        sb.AppendLine($"| Stochastic Laplacian R = 16, collapsed | {Ms("stoch collapsed")} | collapsed/standard {F2(Ratio("stoch collapsed", "stoch standard"))} | near {F2(18.0 / 33)} (vectors R+2 / 2R+1) |");
        sb.AppendLine().AppendLine("| rate / memory | value |").AppendLine("|---|---:|");
        sb.AppendLine($"| dgemm 1024^3 (ours, this run) | {F2(gemmGflops)} GFLOP/s |");
        if (torch is { } t2) sb.AppendLine($"| dgemm 1024^3 (PyTorch, this run) | {F2(t2.GetProperty("dgemm_gflops").GetDouble())} GFLOP/s |");
        sb.AppendLine($"| collapsed Laplacian GEMM work / time | {F2(collapsedGflops)} GFLOP/s = {F2(100 * collapsedGflops / gemmGflops)} % of dgemm (target >= 85 %) |");
        sb.AppendLine($"| collapsed Laplacian back to back: GEMM work / time | {F2(2.0 * macs / b2bCollapsed / 1e6)} GFLOP/s = {(2.0 * macs / b2bCollapsed / 1e6 / b2bGemmGflops * 100).ToString("F2", CultureInfo.InvariantCulture)} % of the back-to-back dgemm ({F2(b2bGemmGflops)} GFLOP/s) |");
        sb.AppendLine($"| collapsed Laplacian GEMM floor (its FLOPs at this run's dgemm rate) | {floorMs:F1} ms |");
        sb.AppendLine($"| load average before / after | {loadBefore} / {loadAfter} |");
        sb.AppendLine($"| live graph of the differentiable Laplacian: collapsed / standard / nested | {F2(memCollapsed)} / {F2(memStandard)} / {F2(memNested)} MiB (collapsed/nested {F2(memCollapsed / memNested)}, target <= 0.5) |");
        var table = sb.ToString();
        Console.WriteLine(table);
        File.WriteAllText(Path.Combine(root, "benchmarks", "results", $"pde-{threads}.md"), table);
        return 0;
    }

    /// <summary>PyTorch's timings (tools/bench_pde_torch.py, the pinned environment inherited), or null and why not.</summary>
    private static (JsonElement? Result, string Note) Torch(string root, int threads, int rounds)
    {
        try
        {
            var psi = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
            foreach (var arg in new[] { Path.Combine(root, "tools", "bench_pde_torch.py"), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--repeats", rounds.ToString(CultureInfo.InvariantCulture) })
                psi.ArgumentList.Add(arg);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd(), error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) return (null, $"PyTorch column skipped: tools/bench_pde_torch.py failed ({error.Trim().Split('\n').LastOrDefault()})");
            var result = JsonDocument.Parse(output).RootElement.Clone();
            return (result, $"PyTorch {result.GetProperty("torch_version").GetString()}");
        }
        catch (Exception e) { return (null, $"PyTorch column skipped: {e.Message}"); }
    }

    // The PINN trainer's network (PyTorch initialisation, layers named as a model.json spec names them).
    private static Sequential<double> Mlp(int d, int seed, int[] hidden) => CurvNative.Pinn.Training.PinnNetwork.Mlp(d, hidden, seed);

    private static Tensor<double> Points(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var t = Tensor<double>.Zeros(n, d);
        for (int i = 0; i < t.Length; i++) t.Span[i] = 2 * rng.NextDouble() - 1;
        return t;
    }

    private static double RelDiff(Tensor<double> a, Tensor<double> b)
    {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.Length; i++) { diff = Math.Max(diff, Math.Abs(a.Span[i] - b.Span[i])); scale = Math.Max(scale, Math.Abs(a.Span[i])); }
        return diff / scale;
    }
}

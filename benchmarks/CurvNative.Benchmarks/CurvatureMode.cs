using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CurvNative.Native;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release -- curvature --threads T</c>: the curvature products of the MLP 784-256-256-10
/// (tanh, cross-entropy, batch 256) and the small CNN in float32, against our own gradient and, for HVP and
/// GGN-vector products, against tools/bench_torch.py (double backward; functorch JVP + VJP) in the same run.
/// Writes benchmarks/results/curvature-T.md.
/// </summary>
internal static class CurvatureMode
{
    private const int SlowRounds = 9;

    private sealed record Row(string Workload, double Ms, string Baseline, double BaselineMs, string Target, bool? Met, string Note = "");

    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int threads = Program.TakeOption(rest, "--threads") ?? 1;
        int repeats = Program.TakeOption(rest, "--repeats") ?? 20;
        bool noTorch = rest.Remove("--no-torch");
        if (!ThreadEnv.IsPinned(threads)) return ThreadEnv.Reexec(threads, args);
        ThreadEnv.PinOpenBlas(threads);
        noTorch = !PythonReference.Use(noTorch, PythonReference.DefaultPython, "curvature", "torch");
        var root = RatioMode.FindRepoRoot();

        var rows = new List<Row>();
        // The read bandwidth is measured once: its 256 MB pass would flush the caches in every round.
        double bandwidth = ReadBandwidth();
        var sgemmWork = new SgemmWorkload(1024, 1024, 1024);
        const double SgemmFlops = 2.0 * 1024 * 1024 * 1024;
        foreach (var (name, workload) in new[] { ("MLP", GradientWorkload.Mlp()), ("CNN", GradientWorkload.Cnn()) })
        {
            Console.Error.WriteLine($"curvature: {name} ...");
            var model = workload.Model; var data = workload.Data;
            var loss = new NN.Losses.CrossEntropyLoss<float>();
            var noCheck = new CurvatureOptions { CheckDeterministic = false };
            var v = Tensor<float>.Zeros(workload.ParameterCount);
            var rng = new Random(3);
            for (int i = 0; i < v.Length; i++) v.Span[i] = (float)(rng.NextDouble() - 0.5);
            var hessian = new HessianOperator<float>(model, loss, data, noCheck);
            var ggn = new GgnOperator<float>(model, loss, data, noCheck);
            KfacOptions Options(FisherType t) => new() { FisherType = t, CheckDeterministic = false };
            var kfac = new KfacOperator<float>(model, loss, data, Options(FisherType.MonteCarlo));

            // Every workload and the machine's reference rate (sgemm 1024^3) in the same rounds.
            // EKFAC and the eigendecompositions take ~0.6 s each for the CNN: 9 rounds, enough for a median that one
            // loaded round does not move.
            int slow = Math.Min(repeats, SlowRounds);
            var t = new Interleaved()
                .Add("sgemm", sgemmWork.Run, repeats)
                .Add("grad", () => workload.Gradient(), repeats)
                .Add("hvp", () => hessian.MatVec(v), repeats)
                .Add("ggn", () => ggn.MatVec(v), repeats)
                .Add("mc", () => new KfacOperator<float>(model, loss, data, Options(FisherType.MonteCarlo)), repeats)
                .Add("t2", () => new KfacOperator<float>(model, loss, data, Options(FisherType.Type2)), repeats)
                .Add("kmv", () => kfac.MatVec(v), repeats)
                .Add("eig", () => { foreach (var b in kfac.Blocks) { Eig(b.A); Eig(b.G); } }, slow)
                .Add("ekfac", () => new EkfacOperator<float>(model, loss, data, Options(FisherType.MonteCarlo)), slow);
            t.Run(warmup: 2);
            double sgemm = SgemmFlops / t.Median("sgemm") / 1e6, grad = t.Median("grad");

            // Peak live managed memory of one call above what lived before it (the smallest of three runs).
            double Peak(Action f) => CurvNative.Diagnostics.PeakMemory.Measure(f, repeats: 3) / 1e6;
            double gradMb = Peak(() => workload.Gradient()), hvpMb = Peak(() => hessian.MatVec(v)), ggnMb = Peak(() => ggn.MatVec(v)), kfacMb = Peak(() => kfac.MatVec(v));

            var torch = name == "MLP" && !noTorch ? RunTorch(root, threads, repeats) : null;
            double kfacFlops = KfacMatvecFlops(kfac);
            var flops = new FlopModel(model, data.X);
            double gradRate = flops.Gradient / grad / 1e6;
            // The reference rate for targets the arithmetic overrides: sgemm where the gradient is GEMM-bound (MLP);
            // the gradient's own rate where it is not (im2col convolutions run well below sgemm).
            bool gemmBound = gradRate >= 0.7 * sgemm;
            string refWork = gemmBound ? "sgemm" : "grad", refName = gemmBound ? $"sgemm {sgemm:F1}" : $"the gradient's {gradRate:F1}";
            double refFlops = gemmBound ? SgemmFlops : flops.Gradient;
            // The issue's ratio to the gradient where the arithmetic allows it; otherwise (the floor wins) >= 85% of the
            // reference rate. Verdicts use the median over rounds of the ratio within a round.
            Row Product(string workload, string key, double opFlops, double issueRatio, string torchNote = "")
            {
                double ms = t.Median(key), floor = opFlops / flops.Gradient;
                double toGrad = t.MedianOfRounds([key, "grad"], r => r[0] / r[1]);
                double ofRef = t.MedianOfRounds([key, refWork], r => opFlops / r[0] / (refFlops / r[1]));
                string arithmetic = $"{opFlops / 1e9:F3} GFLOP = {floor:F2}x the gradient's, {opFlops / ms / 1e6:F1} GFLOP/s; per round {toGrad:F2}x the gradient, {100 * ofRef:F0}% of {refName}";
                string note = torchNote.Length == 0 ? arithmetic : $"{arithmetic}; {torchNote}";
                return floor <= issueRatio
                    ? new(workload, ms, "our gradient", grad, $"<= {issueRatio:0.0#}x gradient", toGrad <= issueRatio, note)
                    : new(workload, ms, "our gradient", grad, $"floor {floor:F2}x > {issueRatio:0.0#}x: >= 85% of {(gemmBound ? "sgemm" : "gradient")} rate", ofRef >= 0.85, note);
            }
            rows.Add(new($"{name} gradient", grad, "PyTorch", torch?.Grad ?? double.NaN, "-", null,
                $"{flops.Gradient / 1e9:F3} GFLOP, {gradRate:F1} GFLOP/s = {100 * gradRate / sgemm:F0}% of sgemm {sgemm:F1}"));
            rows.Add(Product($"{name} Hessian-vector product", "hvp", flops.HessianVector, 2.0,
                torch is null ? "" : $"PyTorch double backward {Fmt(torch.Hvp)} ms, ours/PyTorch {t.Median("hvp") / torch.Hvp:F2}"));
            rows.Add(Product($"{name} GGN-vector product", "ggn", flops.GgnVector, 2.0,
                torch is null ? "" : $"PyTorch JVP+VJP {Fmt(torch.Ggn)} ms, ours/PyTorch {t.Median("ggn") / torch.Ggn:F2}"));
            rows.Add(Product($"{name} KFAC construction (mc)", "mc", flops.KfacConstruction(1), 1.5));
            // Type-2 backpropagates the columns of the loss Hessian's factor: C - 1 = 9 for cross-entropy over 10 classes.
            var first = data.Batches().First();
            int t2Columns = loss.SampleHessianSqrt(model.Forward(Autodiff.Var<float>.Constant(first.X)).Value, first.Y).Shape[2];
            rows.Add(Product($"{name} KFAC construction (type-2, 10 classes: {t2Columns} columns)", "t2", flops.KfacConstruction(t2Columns), 3.0));
            // Roofline: the matvec's floor is its FLOPs at the sgemm rate or its bytes (factors read once, vector in
            // and out) at the read bandwidth, whichever is longer; the CNN's 2049 x 2049 A makes it bandwidth-bound.
            double kfacMv = t.Median("kmv"), kfacBytes = KfacMatvecBytes(kfac);
            double RoofMs(double sgemmMs) => Math.Max(kfacFlops / (SgemmFlops / sgemmMs), kfacBytes / bandwidth / 1e6);
            double roofMs = RoofMs(t.Median("sgemm"));
            double ofRoof = t.MedianOfRounds(["kmv", "sgemm"], r => RoofMs(r[1]) / r[0]);
            string roofNote = $"{kfacFlops / 1e9:F3} GFLOP at sgemm {sgemm:F1} GFLOP/s = {kfacFlops / sgemm / 1e6:F2} ms; {kfacBytes / 1e6:F1} MB at {bandwidth:F1} GB/s = {kfacBytes / bandwidth / 1e6:F2} ms; per round {100 * ofRoof:F0}% of roofline";
            // The issue's <= 0.5x gradient where the roofline allows it; where the roofline alone exceeds it (the MLP's
            // matvec needs more FLOPs than its gradient), >= 85% of the roofline.
            if (roofMs <= 0.5 * grad)
            {
                double toGrad = t.MedianOfRounds(["kmv", "grad"], r => r[0] / r[1]);
                rows.Add(new($"{name} KFAC matvec", kfacMv, "our gradient", grad, "<= 0.5x gradient", toGrad <= 0.5,
                    $"per round {toGrad:F2}x the gradient; {roofNote}"));
            }
            else
                rows.Add(new($"{name} KFAC matvec", kfacMv, "roofline", roofMs, $"roofline {roofMs / grad:F2}x > 0.5x gradient: >= 85% of roofline", ofRoof >= 0.85, roofNote));
            double eig = t.Median("eig"), ekfacRatio = t.MedianOfRounds(["ekfac", "mc", "eig"], r => r[0] / (r[1] + r[2]));
            rows.Add(new($"{name} EKFAC construction", t.Median("ekfac"), "KFAC (mc) + eigendecompositions", t.Median("mc") + eig, "<= 1.3x", ekfacRatio <= 1.3,
                $"eigendecompositions {Fmt(eig)} ms; per round {ekfacRatio:F2}x"));
            double worstMb = Math.Max(hvpMb, Math.Max(ggnMb, kfacMb));
            rows.Add(new($"{name} memory: peak of the largest matvec (MB) vs the gradient's", worstMb, "gradient peak (MB)", gradMb, "<= 3x", worstMb <= 3 * gradMb,
                $"peaks: HVP {hvpMb:F2} MB ({hvpMb / gradMb:F2}x), GGN-vp {ggnMb:F2} MB ({ggnMb / gradMb:F2}x), KFAC matvec {kfacMb:F2} MB ({kfacMb / gradMb:F2}x), gradient {gradMb:F2} MB"));
        }
        var table = Render(rows, threads, repeats);
        Console.WriteLine(table);
        var dir = Path.Combine(root, "benchmarks", "results");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"curvature-{threads}.md"), table);
        return 0;
    }

    private static void Eig(Tensor<float> m)
    {
        int n = m.Shape[0];
        var a = m.Clone(); var w = new float[n];
        Lapack.SymmetricEigen<float>(n, a.Span, w);
    }

    /// <summary>2 O D (O + D) per weight block plus 2 O^2 per bias block: G V then (G V) A.</summary>
    private static double KfacMatvecFlops(KfacOperator<float> kfac)
        => kfac.Blocks.Sum(b => 2.0 * b.Layer.OutDim * b.Layer.InDim * (b.Layer.OutDim + b.Layer.InDim) + 2.0 * b.Layer.OutDim * b.Layer.OutDim);

    /// <summary>Bytes a matvec must move: every factor once, and the vector in and out (4-byte floats).</summary>
    private static double KfacMatvecBytes(KfacOperator<float> kfac)
        => 4.0 * (kfac.Blocks.Sum(b => (double)(b.A?.Length ?? 0) + b.G.Length) + 2.0 * kfac.Columns);

    /// <summary>Read bandwidth in GB/s: the sum of a 256 MB array (larger than any cache).</summary>
    private static double ReadBandwidth()
    {
        var a = new float[1 << 26];
        for (int i = 0; i < a.Length; i += 1024) a[i] = 1;
        float sink = 0;
        double ms = RatioMode.Time(() => sink += System.Numerics.Tensors.TensorPrimitives.Sum<float>(a), 2, 10).MedianMs;
        GC.KeepAlive(sink);
        return 4.0 * a.Length / ms / 1e6;
    }

    private sealed record TorchTimes(double Grad, double Hvp, double Ggn);

    private static TorchTimes RunTorch(string root, int threads, int repeats)
    {
        var outFile = Path.Combine(Path.GetTempPath(), $"curvnative-torch-curv-{Environment.ProcessId}.json");
        PythonReference.Run(PythonReference.DefaultPython, root, "bench_torch.py", "--threads", threads.ToString(CultureInfo.InvariantCulture),
            "--repeats", repeats.ToString(CultureInfo.InvariantCulture), "--out", outFile);
        using var doc = JsonDocument.Parse(File.ReadAllText(outFile));
        File.Delete(outFile);
        var r = doc.RootElement;
        return new TorchTimes(r.GetProperty("mlp_grad_ms").GetDouble(), r.GetProperty("mlp_hvp_ms").GetDouble(), r.GetProperty("mlp_ggnvp_ms").GetDouble());
    }

    private static string Fmt(double ms) => ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);

    private static string Render(List<Row> rows, int threads, int repeats)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Curvature products, float32, {threads} thread(s)");
        sb.AppendLine();
        sb.AppendLine($"Generated by `dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- curvature --threads {threads}`; after warm-up, every workload and sgemm 1024^3 are timed in {repeats} interleaved rounds (EKFAC and the eigendecompositions in the first {Math.Min(repeats, SlowRounds)}); ms are medians over rounds, verdicts use the median over rounds of the ratio within a round.");
        sb.AppendLine();
        sb.AppendLine("| workload | ours (ms) | baseline | baseline (ms) | ratio | target | met | note |");
        sb.AppendLine("|---|---:|---|---:|---:|---|---|---|");
        foreach (var r in rows)
        {
            string ratio = double.IsNaN(r.BaselineMs) ? "n/a" : (r.Ms / r.BaselineMs).ToString("F2", CultureInfo.InvariantCulture);
            string baseline = double.IsNaN(r.BaselineMs) ? "n/a" : Fmt(r.BaselineMs);
            sb.AppendLine($"| {r.Workload} | {Fmt(r.Ms)} | {r.Baseline} | {baseline} | {ratio} | {r.Target} | {(r.Met is null ? "" : r.Met.Value ? "yes" : "no")} | {r.Note} |");
        }
        sb.AppendLine();
        sb.AppendLine("Memory rows: the peak of live managed memory during one call, above what lived before it (`CurvNative.Diagnostics.PeakMemory`: a full blocking collection at every tensor allocation, so the peak is exact up to small objects; smallest of three runs; native kernel scratch is not counted). Batches stream: the products hold one batch's graph at a time (tested in PeakMemoryTests.BatchesStream).");
        return sb.ToString();
    }
}

using System.Diagnostics;
using System.Globalization;
using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Pde;
using CurvNative.Tensors;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>pde-profile [--rounds R]</c>: where the time of the collapsed Laplacian goes, on the benchmark's D = 50 net
/// (768-768-512-512, N = 256) and on the PINN's 5 -> 64 -> 64 -> 48 -> 48 -> 1 net (N = 3,000), float64, 1 thread:
/// the forward pass alone, the values-only sweep, the differentiable sweep (graph kept), and the differentiable sweep
/// plus the gradient of mean((Delta u)^2) with respect to the parameters (a PINN step's loss gradient), each the
/// minimum over R rounds, against the dgemm rate and the GEMM floor (propagated GEMM FLOPs over that rate).
/// </summary>
internal static class PdeProfileMode
{
    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int rounds = Program.TakeOption(rest, "--rounds") ?? 3;
        if (!ThreadEnv.IsPinned(1)) return ThreadEnv.Reexec(1, args);
        ThreadEnv.PinOpenBlas(1);
        bool bihOnly = rest.Remove("--biharmonic-only"), pinnOnly = rest.Remove("--pinn-only");
        _valuesOnly = rest.Remove("--values-only");
        var a = Rand(1024, 1024, 6);
        var b = Rand(1024, 1024, 7);
        double gemmMs = Best(rounds, () => TensorOps.MatMul(a, b, false, false));
        double gflops = 2.0 * 1024 * 1024 * 1024 / gemmMs / 1e6;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load {File.ReadAllText("/proc/loadavg").Trim()}; dgemm 1024^3 {gflops:F2} GFLOP/s"));
        Console.WriteLine("| net | phase | ms | GEMM floor ms | floor / time |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        if (!bihOnly && !pinnOnly) Profile("D=50 768-768-512-512 N=256", 50, [768, 768, 512, 512], 256, rounds, gflops);
        if (!bihOnly) Profile("PINN 5-64-64-48-48 N=3000", 5, [64, 64, 48, 48], 3000, rounds, gflops);
        if (pinnOnly || _valuesOnly) return 0;
        // The biharmonic at D = 5 on the benchmark's net, values only.
        var bihModel = Mlp(5, [768, 768, 512, 512]);
        var xb = Rand(256, 5, 4);
        var bih = PdeOperator<double>.Biharmonic(5);
        foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard })
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| D=5 768-768-512-512 N=256 | biharmonic {mode}, values | {Best(rounds, () => PdeOps.Evaluate(bihModel, xb, bih, mode)):F2} | | |"));
        return 0;
    }

    // The PINN trainer's network (PyTorch initialisation, layers named as a model.json spec names them).
    private static Sequential<double> Mlp(int d, int[] hidden) => CurvNative.Pinn.Training.PinnNetwork.Mlp(d, hidden, 1);

    private static void Profile(string name, int d, int[] hidden, int n, int rounds, double gflops)
    {
        var model = Mlp(d, hidden);
        var parameters = model.Parameters().Select(p => p.Var).ToArray();
        var x = Rand(n, d, 3);
        var lap = PdeOperator<double>.Laplacian(d);
        // Forward GEMMs of the collapsed sweep: 1 + D rows per point into the first layer, 2 + D after it.
        long macs = 0, fwdMacs = 0;
        int[] widths = [d, .. hidden, 1];
        for (int l = 0; l < widths.Length - 1; l++)
        {
            macs += (long)widths[l] * widths[l + 1] * n * (l == 0 ? 1 + d : 2 + d);
            fwdMacs += (long)widths[l] * widths[l + 1] * n;
        }
        // The backward of the differentiable sweep: two GEMMs per forward one (input and weight gradients), the first
        // layer's input gradient excepted; counted as 3x the forward.
        double floorFwd = 2.0 * macs / gflops / 1e6, floorBwd = 3 * floorFwd;
        void Row(string phase, double ms, double floor)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {phase} | {ms:F2} | {floor:F2} | {floor / ms:P0} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    gc pause {(GC.GetTotalPauseDuration() - _pause).TotalMilliseconds / (rounds + 1):F1} ms/call, alloc {(GC.GetTotalAllocatedBytes() - _alloc) / 1048576.0 / (rounds + 1):F0} MiB/call"));
        }
        Row("forward u (no graph)", Best(rounds, () => { using (GradMode.Disable()) model.Forward(Var<double>.Constant(x)); }), 2.0 * fwdMacs / gflops / 1e6);
        Row("collapsed Laplacian, values", Best(rounds, () => PdeOps.Evaluate(model, x, lap, TaylorMode.Collapsed, n)), floorFwd);
        if (_valuesOnly) return;
        Row("collapsed Laplacian, differentiable", Best(rounds, () => PdeOps.Apply(model, x, lap, TaylorMode.Collapsed)), floorFwd);
        Row("differentiable + grad of mean(lap^2)", Best(rounds, () =>
        {
            var r = PdeOps.Apply(model, x, lap, TaylorMode.Collapsed).Values;
            Autograd.Grad(F.Mean(F.Square(r)), parameters);
        }), floorBwd);
    }

    private static bool _valuesOnly;
    private static TimeSpan _pause;
    private static long _alloc;

    private static double Best(int rounds, Action run)
    {
        _pause = GC.GetTotalPauseDuration(); _alloc = GC.GetTotalAllocatedBytes();
        run();
        double best = double.PositiveInfinity;
        for (int r = 0; r < rounds; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        return best;
    }

    private static Tensor<double> Rand(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var t = Tensor<double>.Zeros(n, d);
        for (int i = 0; i < t.Length; i++) t.Span[i] = 2 * rng.NextDouble() - 1;
        return t;
    }
}

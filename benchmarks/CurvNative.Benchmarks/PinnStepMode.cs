using System.Diagnostics;
using System.Globalization;
using CurvNative.Native;
using CurvNative.Pinn;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>pinn-step [--rounds R]</c>: one ENGD-Woodbury step on poisson5d (default setup: N = 3,000 + 500, P = 10,065,
/// float64) split into its phases, each the minimum over R rounds, against the dgemm rate measured in the same run
/// (a 2,048^3 GEMM, interleaved with the rounds). The kernel assembly K = J J^T is one SYRK of N^2 P flops.
/// </summary>
internal static class PinnStepMode
{
    public static int Run(string[] args)
    {
        int rounds = 3;
        for (int i = 1; i + 1 < args.Length; i++)
            if (args[i] == "--rounds") rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        var problem = PinnProblem.Create("poisson5d");
        var model = PinnNetwork.Mlp(problem.Dimension, problem.DefaultHidden, 0);
        var map = new ResidualMap(problem, model);
        var batch = PinnBatch.Draw(problem, problem.DefaultInterior, problem.DefaultBoundary, 0, 1);
        int n = batch.Count, p = map.ParameterCount;
        const int g = 2048;
        var a = new double[g * g]; var b = new double[g * g]; var c = new double[g * g];
        var rng = new Random(1);
        for (int i = 0; i < a.Length; i++) { a[i] = rng.NextDouble(); b[i] = rng.NextDouble(); }
        var best = new Dictionary<string, double>();
        void Keep(string what, double seconds) => best[what] = Math.Min(best.GetValueOrDefault(what, double.PositiveInfinity), seconds);
        double Time(Action action) { long t = Stopwatch.GetTimestamp(); action(); return Stopwatch.GetElapsedTime(t).TotalSeconds; }
        var theta = map.GetParameters();
        // As in training: J and the kernel live in a workspace kept across steps (rounds after the first reuse it).
        var workspace = new StepWorkspace();
        var optimizer = new WoodburyOptimizer(1e-10, new StepSizeRule.GridLineSearch());
        for (int round = 0; round < rounds; round++)
        {
            Keep("dgemm", Time(() => Blas.Gemm(false, false, g, g, g, 1.0, a, g, b, g, 0.0, c, g)));
            ResidualLinearization lin = null!;
            Keep("linearize (Taylor sweep + J)", Time(() => lin = map.Linearize(batch, workspace)));
            double[] k = null!;
            Keep("kernel J J^T (SYRK)", Time(() => k = lin.KernelMatrix(workspace)));
            var alpha = lin.Residual.ToArray();
            Keep("Cholesky solve", Time(() => DampedSolve.Solve(k, n, 1e-10, alpha)));
            Keep("push-through J^T alpha", Time(() => lin.TransposeTimes(alpha)));
            Keep("loss evaluation (one line-search point)", Time(() => map.Loss(batch)));
            map.SetParameters(theta.Span);
            Keep("whole step (31-point line search)", Time(() => optimizer.Step(map, batch, 1)));
            map.SetParameters(theta.Span);
        }
        double gemmRate = 2.0 * g * g * g / best["dgemm"] / 1e9;
        double syrkRate = (double)n * n * p / best["kernel J J^T (SYRK)"] / 1e9;
        Console.WriteLine($"poisson5d engd-woodbury step: N = {n}, P = {p}, OpenBLAS threads {ThreadEnv.OpenBlasThreads}, min over {rounds} rounds, load {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine($"| phase | time [s] |");
        Console.WriteLine($"|---|---|");
        foreach (var (what, seconds) in best) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {what} | {seconds:F3} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"dgemm {gemmRate:F1} GFLOP/s; kernel assembly {syrkRate:F1} GFLOP/s = {100 * syrkRate / gemmRate:F0}% of dgemm"));
        return 0;
    }
}

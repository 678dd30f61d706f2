using System.Globalization;
using System.Text;
using CurvNative.NN.Training;
using CurvNative.NN.Losses;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Solvers.Estimators;
using CurvNative.Tensors;
using CurvNative.Threading;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release -- scaling [--rounds R] [--batch-size B]</c>: one thread against two, side by side in
/// one process (interleaved rounds, <see cref="ThreadSettings.Set"/> before every call), on the benchmark MLP
/// 784-256-256-10 with 256 samples in mini-batches of B (default 64): gradient, Hessian-vector product, GGN-vector
/// product and KFAC construction, plus the gradient over one batch of 256 (nothing to share out but its GEMMs).
/// Writes benchmarks/results/scaling.md with the load average before and after, which says whether the numbers
/// mean anything on a shared machine.
/// </summary>
internal static class ScalingMode
{
    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int rounds = Program.TakeOption(rest, "--rounds") ?? 21;
        int batch = Program.TakeOption(rest, "--batch-size") ?? 64;
        int only = rest.IndexOf("--only");
        string? filter = only >= 0 && only + 1 < rest.Count ? rest[only + 1] : null;
        string loadBefore = LoadAverage();
        var w = GradientWorkload.Mlp();
        var loss = new CrossEntropyLoss<float>();
        var data = w.Data;
        var batched = new DataSetObjective<float>(w.Model, loss, data, batch);
        var whole = new DataSetObjective<float>(w.Model, loss, data);
        var options = new CurvatureOptions { BatchSize = batch, CheckDeterministic = false };
        var hessian = new HessianOperator<float>(w.Model, loss, data, options);
        var ggn = new GgnOperator<float>(w.Model, loss, data, options);
        var v = Workloads.RandomNormal(new Random(5), hessian.Columns);
        var kfac = new KfacOptions { FisherType = FisherType.MonteCarlo, BatchSize = batch, CheckDeterministic = false };

        var cnn = GradientWorkload.Cnn();
        var cnnData = cnn.Data;
        int cnnBatch = Math.Max(1, batch / 4);
        var cnnBatched = new DataSetObjective<float>(cnn.Model, loss, cnnData, cnnBatch);
        var cnnWhole = new DataSetObjective<float>(cnn.Model, loss, cnnData);
        var cnnOptions = new CurvatureOptions { BatchSize = cnnBatch, CheckDeterministic = false };
        var cnnGgn = new GgnOperator<float>(cnn.Model, loss, cnnData, cnnOptions);
        var cnnV = Workloads.RandomNormal(new Random(6), cnnGgn.Columns);
        // The trace workload of the issue: a Hutch++ estimate of the GGN's trace over 8,192 samples.
        var rng = new Random(7);
        var big = new CurvNative.NN.Data.DataSet<float>(Workloads.RandomNormal(rng, 8192, 784),
            CurvNative.NN.Data.Targets<float>.FromClasses(Workloads.RandomClasses(rng, 8192, 10)));
        var bigGgn = new GgnOperator<float>(w.Model, loss, big, new CurvatureOptions { BatchSize = 256, CheckDeterministic = false });

        // One engd-woodbury step on poisson5d (default setup, float64): built lazily, it is only needed by its row.
        (CurvNative.Pinn.ResidualMap Map, CurvNative.Pinn.Training.PinnBatch Batch, double[] Theta)? pinn = null;
        void PinnStep()
        {
            if (pinn is null)
            {
                var problem = CurvNative.Pinn.Problems.PinnProblem.Create("poisson5d");
                var map = new CurvNative.Pinn.ResidualMap(problem, CurvNative.Pinn.Training.PinnNetwork.Mlp(problem.Dimension, problem.DefaultHidden, 0));
                var pinnBatch = CurvNative.Pinn.Training.PinnBatch.Draw(problem, problem.DefaultInterior, problem.DefaultBoundary, 0, 1);
                pinn = (map, pinnBatch, map.GetParameters().ToArray());
            }
            var (m, b, theta) = pinn.Value;
            m.SetParameters(theta);
            new CurvNative.Pinn.Optimizers.WoodburyOptimizer(1e-10, new CurvNative.Pinn.Optimizers.StepSizeRule.GridLineSearch()).Step(m, b, 1);
        }

        (string Name, Action Run, int Rounds)[] work =
        [
            ($"MLP gradient, {data.Count / batch} batches of {batch}", () => batched.Gradient(), rounds),
            ($"MLP gradient, one batch of {data.Count}", () => whole.Gradient(), rounds),
            ("MLP Hessian-vector product", () => hessian.MatVec(v), rounds),
            ("MLP GGN-vector product", () => ggn.MatVec(v), rounds),
            ("MLP KFAC construction (MC)", () => _ = new KfacOperator<float>(w.Model, loss, data, kfac), rounds),
            ($"CNN gradient, {cnnData.Count / cnnBatch} batches of {cnnBatch}", () => cnnBatched.Gradient(), rounds),
            ($"CNN gradient, one batch of {cnnData.Count}", () => cnnWhole.Gradient(), rounds),
            ("CNN GGN-vector product", () => cnnGgn.MatVec(cnnV), rounds),
            ("Hutch++ trace of the MLP GGN, N = 8192, 9 products", () => TraceEstimators.HutchPlusPlus(bigGgn, 9, seed: 3), Math.Max(3, rounds / 4)),
            ("PINN engd-woodbury step, poisson5d (N = 3,500, P = 10,065, float64)", PinnStep, 3),
        ];
        if (filter is not null) work = work.Where(w => w.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)).ToArray();
        var timer = new Interleaved();
        foreach (var (name, run, r) in work)
            foreach (int t in new[] { 1, 2 })
                timer.Add($"{name} T={t}", () => { ThreadSettings.Set(t); run(); }, r);
        timer.Run(warmup: 2);
        ThreadSettings.Set(ThreadSettings.DefaultCount);
        string loadAfter = LoadAverage();

        var sb = new StringBuilder();
        sb.AppendLine("# One thread against two (ThreadSettings / --threads)").AppendLine();
        sb.AppendLine($"Generated by `dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- scaling --rounds {rounds} --batch-size {batch}`; float32; MLP 784-256-256-10 with N = {data.Count} in batches of {batch}; the CNN of the ratio table with N = {cnnData.Count} in batches of {cnnBatch}.");
        sb.AppendLine($"{rounds} interleaved rounds; the speed-up is the median over the rounds of T=1 time / T=2 time. Load average (1, 5, 15 min) before: {loadBefore}; after: {loadAfter} (on {Environment.ProcessorCount} cores).").AppendLine();
        sb.AppendLine("| workload | 1 thread (ms) | 2 threads (ms) | speed-up |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var (name, _, _) in work)
        {
            string one = $"{name} T=1", two = $"{name} T=2";
            double speedup = timer.MedianOfRounds([one, two], r => r[0] / r[1]);
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {timer.Median(one):F2} | {timer.Median(two):F2} | {speedup:F2}x |"));
        }
        var path = Path.Combine(RatioMode.FindRepoRoot(), "benchmarks", "results", "scaling.md");
        File.WriteAllText(path, sb.ToString());
        Console.Write(sb.ToString());
        Console.Error.WriteLine($"scaling: wrote {path}");
        return 0;
    }

    private static string LoadAverage()
    {
        try { return string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }
}

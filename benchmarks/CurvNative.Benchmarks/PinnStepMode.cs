using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CurvNative.Autodiff;
using CurvNative.Native;
using CurvNative.Pde;
using CurvNative.Pinn;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>pinn-step [--rounds R] [--torch-steps S] [--no-torch]</c>: one ENGD-Woodbury step on poisson5d (default setup:
/// N = 3,000 + 500, P = 10,065, float64) split into its phases, each the minimum over R rounds, against the dgemm rate
/// measured in the same run (a 2,048^3 GEMM, interleaved with the rounds) and against the same step in PyTorch
/// (tools/pinn_step_torch.py, S steps, threads pinned by the inherited OPENBLAS_NUM_THREADS). The kernel K = J J^T is
/// one SYRK of N^2 P flops. Writes benchmarks/results/pinn-step-T.md (T = OpenBLAS threads).
/// </summary>
internal static class PinnStepMode
{
    public static int Run(string[] args)
    {
        int rounds = 3, torchSteps = 2;
        bool noTorch = args.Contains("--no-torch");
        for (int i = 1; i + 1 < args.Length; i++)
        {
            if (args[i] == "--rounds") rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--torch-steps") torchSteps = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }
        var root = RatioMode.FindRepoRoot();
        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
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
        var parameters = map.Parameters;
        // As in training: J and the kernel live in a workspace kept across steps (rounds after the first reuse it).
        var workspace = new StepWorkspace();
        var optimizer = new WoodburyOptimizer(1e-10, new StepSizeRule.GridLineSearch());
        // Warm-up (JIT of every path) outside the rounds.
        optimizer.Step(map, batch, 1);
        map.SetParameters(theta.Span);
        for (int round = 0; round < rounds; round++)
        {
            Keep("dgemm 2048^3", Time(() => Blas.Gemm(false, false, g, g, g, 1.0, a, g, b, g, 0.0, c, g)));
            (Var<double> Interior, Var<double> Boundary) nodes = map.Nodes(batch);
            Keep("forward Taylor sweep (recorded)", Time(() => nodes = map.Nodes(batch)));
            Keep("backward (one reverse pass)", Time(() =>
            {
                Autograd.Grad(F.Sum(nodes.Interior), parameters);
                Autograd.Grad(F.Sum(nodes.Boundary), parameters);
            }));
            Keep("J: backward + row assembly", Time(() =>
            {
                PointJacobian.Compute(nodes.Interior, parameters);
                PointJacobian.Compute(nodes.Boundary, parameters);
            }));
            ResidualLinearization lin = null!;
            Keep("linearize (sweep + J, stacked)", Time(() => lin = map.Linearize(batch, workspace)));
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
        string loadAfterOurs = File.ReadAllText("/proc/loadavg").Trim();
        double gemmRate = 2.0 * g * g * g / best["dgemm 2048^3"] / 1e9;
        double syrkRate = (double)n * n * p / best["kernel J J^T (SYRK)"] / 1e9;
        double assembly = best["J: backward + row assembly"] - best["backward (one reverse pass)"];
        double kernelAssembly = Math.Max(0, assembly) + best["kernel J J^T (SYRK)"];
        double kernelRate = (double)n * n * p / kernelAssembly / 1e9;

        JsonElement? torch = null;
        string torchNote;
        if (noTorch) torchNote = "PyTorch column skipped (--no-torch)";
        else
        {
            try
            {
                var psi = new ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
                foreach (var arg in new[] { Path.Combine(root, "tools", "pinn_step_torch.py"), "--threads", ThreadEnv.OpenBlasThreads.ToString(CultureInfo.InvariantCulture), "--steps", torchSteps.ToString(CultureInfo.InvariantCulture) })
                    psi.ArgumentList.Add(arg);
                using var proc = Process.Start(psi)!;
                var errTask = proc.StandardError.ReadToEndAsync();
                string output = proc.StandardOutput.ReadToEnd();
                proc.WaitForExit();
                string error = errTask.Result;
                if (proc.ExitCode == 0) { torch = JsonDocument.Parse(output).RootElement.Clone(); torchNote = torch.Value.GetProperty("framework").GetString()!; }
                else torchNote = $"PyTorch column skipped: {error.Trim().Split('\n').LastOrDefault()}";
            }
            catch (Exception e) { torchNote = $"PyTorch column skipped: {e.Message}"; }
        }
        string loadEnd = File.ReadAllText("/proc/loadavg").Trim();

        string S(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.AppendLine($"# One ENGD-Woodbury step on poisson5d, {ThreadEnv.OpenBlasThreads} OpenBLAS thread(s)").AppendLine();
        sb.AppendLine($"Generated by `OPENBLAS_NUM_THREADS={ThreadEnv.OpenBlasThreads} dotnet run -c Release --project benchmarks/CurvNative.Benchmarks -- pinn-step --rounds {rounds} --torch-steps {torchSteps}` "
            + $"({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {torchNote}).");
        sb.AppendLine($"N = {n}, P = {p}, float64, damping 1e-10, grid line search eta in {{0.5^k, k = 0..30}}. Ours: minimum over {rounds} rounds after a warm-up step.");
        sb.AppendLine($"Load average (/proc/loadavg): before {loadBefore}; after ours {loadAfterOurs}; after PyTorch {loadEnd}.").AppendLine();
        sb.AppendLine("| phase | CurvNative [s] | PyTorch [s] |");
        sb.AppendLine("|---|---|---|");
        double T(string key) => torch is { } t ? t.GetProperty("steps").EnumerateArray().Min(s => s.GetProperty(key).GetDouble()) : double.NaN;
        string Tc(string key) => torch is null ? "-" : S(T(key));
        var torchOf = new Dictionary<string, string>
        {
            ["forward Taylor sweep (recorded)"] = "residual_s",
            ["J: backward + row assembly"] = "jacobian_s",
            ["kernel J J^T (SYRK)"] = "kernel_s",
            ["Cholesky solve"] = "cholesky_solve_s",
            ["push-through J^T alpha"] = "push_through_s",
        };
        foreach (var (what, seconds) in best)
            sb.AppendLine($"| {what} | {S(seconds)} | {(torchOf.TryGetValue(what, out var key) ? Tc(key) : "")} |");
        sb.AppendLine($"| line search (31 loss evaluations) | {S(best["whole step (31-point line search)"] - best["linearize (sweep + J, stacked)"] - best["kernel J J^T (SYRK)"] - best["Cholesky solve"] - best["push-through J^T alpha"])} (whole step minus the other phases) | {Tc("line_search_s")} |");
        sb.AppendLine($"| **whole step** | **{S(best["whole step (31-point line search)"])}** | **{(torch is { } tt ? S(tt.GetProperty("min_step_s").GetDouble()) : "-")}** |").AppendLine();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"dgemm (this run) {gemmRate:F1} GFLOP/s. SYRK alone {syrkRate:F1} GFLOP/s ({100 * syrkRate / gemmRate:F0}% of dgemm, counting N^2 P flops). "
            + $"Kernel assembly = J row assembly ({Math.Max(0, assembly):F3} s: J-with-backward minus the plain backward) + SYRK: {kernelRate:F1} GFLOP/s = {100 * kernelRate / gemmRate:F0}% of dgemm."));
        if (torch is { } t3) sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Step time ours / PyTorch: {best["whole step (31-point line search)"] / t3.GetProperty("min_step_s").GetDouble():F3} (PyTorch: minimum over {t3.GetProperty("steps").GetArrayLength()} steps; its J by functorch vmap(jacrev) of the per-point Hessian trace)."));
        var table = sb.ToString();
        Console.Write(table);
        Directory.CreateDirectory(Path.Combine(root, "benchmarks", "results"));
        File.WriteAllText(Path.Combine(root, "benchmarks", "results", $"pinn-step-{ThreadEnv.OpenBlasThreads}.md"), table);
        return 0;
    }
}

using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using CurvNative.Cli.Reports;
using CurvNative.Interop;
using CurvNative.Operators;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Solvers;
using CurvNative.Solvers.Eigen;
using CurvNative.Solvers.Estimators;
using CurvNative.Tensors;
using Spectre.Console;

namespace CurvNative.Cli.Commands;

/// <summary>
/// The analysis commands on a curvature operator of model files: <c>eigs</c>, <c>trace</c>, <c>diag</c>,
/// <c>solve</c> and <c>density</c>. Each validates everything it reads before computing, and writes its
/// output atomically only when the computation succeeded.
/// </summary>
internal static class AnalysisCommands
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Adds the shared options, parses the dtype and runs <paramref name="run"/> in float or double.</summary>
    private static Command Make(string name, string description, CliContext context, Option[] extra, string[] outputs,
        Func<ParseResult, CurvatureCommandOptions, Progress, Generic> run, out CurvatureCommandOptions curvature)
    {
        var c = new CurvatureCommandOptions();
        var quiet = new Option<bool>("--quiet") { Description = "No progress display." };
        var command = new Command(name, description);
        c.AddTo(command);
        foreach (var o in extra) command.Add(o);
        command.Add(quiet);
        command.SetAction(parsed =>
        {
            c.Files.CheckInputs(parsed);
            foreach (var o in extra.OfType<Option<string>>().Where(o => outputs.Contains(o.Name)))
                if (parsed.GetValue(o) is { } path) PathChecks.OutputFile(path, o.Name);
            var progress = new Progress(context, parsed.GetValue(quiet));
            var generic = run(parsed, c, progress);
            if (c.Files.GetDtype(parsed) == DType.Float32) generic.Run<float>();
            else generic.Run<double>();
            return ExitCodes.Success;
        });
        curvature = c;
        return command;
    }

    /// <summary>A computation written once for float and double.</summary>
    internal abstract class Generic
    {
        public abstract void Run<T>() where T : unmanaged, IFloatingPointIeee754<T>;
    }

    // ------------------------------------------------------------------ eigs

    public static Command Eigs(CliContext context)
    {
        var k = CliOptions.PositiveInt("--k", "Number of eigenvalues (largest magnitude).", 10, "K");
        var output = CliOptions.OutputFile("--out", "Output JSON: {\"eigenvalues\": [...]} sorted descending.");
        var tol = new Option<double>("--tol") { Description = "Relative residual tolerance of the Ritz pairs.", DefaultValueFactory = _ => 1e-6 };
        return Make("eigs", "The K largest-magnitude eigenvalues of a curvature matrix (thick-restart Lanczos).", context, [k, output, tol], ["--out"],
            (parsed, c, progress) => new EigsRun(parsed, c, progress, parsed.GetValue(k), parsed.GetRequiredValue(output), parsed.GetValue(tol)), out _);
    }

    private sealed class EigsRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, int k, string outPath, double tol) : Generic
    {
        public override void Run<T>()
        {
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            if (k > op.Columns) throw CliException.Usage($"--k {k} exceeds the number of parameters {op.Columns}.");
            var result = progress.Step($"Lanczos for {k} eigenvalues", () => Lanczos.Eigs(op, k, EigenWhich.LargestMagnitude, new LanczosOptions { Tolerance = tol, Seed = parsed.GetValue(c.Seed) }));
            if (!result.Converged) throw CliException.BadInput($"Lanczos did not converge: {result.Message}; {outPath} was not written.");
            var values = result.Eigenvalues.OrderByDescending(v => v).ToArray();
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(new { eigenvalues = values, matvecs = result.MatVecs }, Json));
        }
    }

    // ------------------------------------------------------------------ trace

    public static Command Trace(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "exact (P matvecs, or KFAC's closed form), hutchinson, hutchpp or xtrace.", ["exact", "hutchinson", "hutchpp", "xtrace"], required: false, defaultValue: "hutchpp");
        var samples = CliOptions.PositiveInt("--samples", "Number of matrix-vector products of the estimator.", 30, "M");
        var output = CliOptions.OutputFile("--out", "Output JSON: {\"trace\": t, ...}.");
        return Make("trace", "Trace of a curvature matrix, exact or estimated from matrix-vector products.", context, [method, samples, output], ["--out"],
            (parsed, c, progress) => new TraceRun(parsed, c, progress, parsed.GetValue(method)!, parsed.GetValue(samples), parsed.GetRequiredValue(output)), out _);
    }

    private sealed class TraceRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, string method, int samples, string outPath) : Generic
    {
        public override void Run<T>()
        {
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            int seed = parsed.GetValue(c.Seed);
            ScalarEstimate estimate = progress.Step($"{method} trace", () => method switch
            {
                "exact" when op is KfacOperator<T> kfac => new ScalarEstimate(kfac.Trace(), 0, 0, "exact (Kronecker factors)", true),
                "exact" => ExactTrace(op),
                "hutchinson" => TraceEstimators.Hutchinson(op, Check(samples, op), seed: seed),
                "hutchpp" => TraceEstimators.HutchPlusPlus(op, Check(samples, op), seed: seed),
                _ => TraceEstimators.XTrace(op, Check(samples, op), seed: seed),
            });
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(new
            {
                trace = estimate.Estimate, standard_error = estimate.StandardError, matvecs = estimate.MatVecs, method = estimate.Method,
            }, Json));
        }
    }

    private static ScalarEstimate ExactTrace<T>(LinearOperator<T> op) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = Diagonal(op);
        double sum = 0;
        foreach (var v in d.Span) sum += double.CreateTruncating(v);
        return new ScalarEstimate(sum, 0, op.Columns, "exact", true);
    }

    /// <summary>The exact diagonal from products with identity columns, in chunks to bound memory.</summary>
    private static Tensor<T> Diagonal<T>(LinearOperator<T> op) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = op.Columns, chunk = Math.Max(1, Math.Min(n, (1 << 22) / Math.Max(1, n)));
        var diag = Tensor<T>.Zeros(n);
        for (int start = 0; start < n; start += chunk)
        {
            int k = Math.Min(chunk, n - start);
            var e = Tensor<T>.Zeros(n, k);
            for (int j = 0; j < k; j++) e.Span[(start + j) * k + j] = T.One;
            var y = op.MatMat(e);
            for (int j = 0; j < k; j++) diag.Span[start + j] = y.Span[(start + j) * k + j];
        }
        return diag;
    }

    private static int Check<T>(int samples, LinearOperator<T> op) where T : unmanaged, IFloatingPointIeee754<T>
        => samples <= op.Columns ? samples : throw CliException.Usage($"--samples {samples} exceeds the dimension {op.Columns}; use --method exact instead.");

    // ------------------------------------------------------------------ diag

    public static Command Diag(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "exact (P matvecs), hutchinson or xdiag.", ["exact", "hutchinson", "xdiag"], required: false, defaultValue: "xdiag");
        var samples = CliOptions.PositiveInt("--samples", "Number of matrix-vector products of the estimator.", 30, "M");
        var output = CliOptions.OutputFile("--out", "Output .npy: the diagonal [P].");
        return Make("diag", "Diagonal of a curvature matrix, exact or estimated.", context, [method, samples, output], ["--out"],
            (parsed, c, progress) => new DiagRun(parsed, c, progress, parsed.GetValue(method)!, parsed.GetValue(samples), parsed.GetRequiredValue(output)), out _);
    }

    private sealed class DiagRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, string method, int samples, string outPath) : Generic
    {
        public override void Run<T>()
        {
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            int seed = parsed.GetValue(c.Seed);
            var diag = progress.Step($"{method} diagonal", () => method switch
            {
                "exact" => Diagonal(op),
                "hutchinson" => DiagonalEstimators.Hutchinson(op, Check(samples, op), seed: seed).Diagonal,
                _ => DiagonalEstimators.XDiag(op, Check(samples, op), seed: seed).Diagonal,
            });
            Npy.Write(outPath, diag);
        }
    }

    // ------------------------------------------------------------------ solve

    public static Command Solve(CliContext context)
    {
        var damping = new Option<double>("--damping") { Description = "lambda in (C + lambda I) x = v.", DefaultValueFactory = _ => 0 };
        var rhs = CliOptions.InputFile("--rhs", "Right-hand side .npy: [P] or [P, K].");
        var method = CurvatureCommandOptions.Choice("--method", "cg (conjugate gradients on C + lambda I) or kfac (the exactly damped KFAC/EKFAC inverse).", ["cg", "kfac"], required: false, defaultValue: "cg");
        var tol = new Option<double>("--tol") { Description = "Relative residual tolerance of CG.", DefaultValueFactory = _ => 1e-8 };
        var maxIter = new Option<int?>("--max-iterations") { Description = "CG iteration limit (default: the dimension)." };
        var output = CliOptions.OutputFile("--out", "Output .npy with the solution, same shape as --rhs.");
        return Make("solve", "Solve (C + lambda I) x = v for a curvature matrix C.", context, [damping, rhs, method, tol, maxIter, output], ["--out"],
            (parsed, c, progress) => new SolveRun(parsed, c, progress, parsed.GetValue(damping), parsed.GetRequiredValue(rhs), parsed.GetValue(method)!,
                parsed.GetValue(tol), parsed.GetValue(maxIter), parsed.GetRequiredValue(output)), out _);
    }

    private sealed class SolveRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, double damping, string rhsPath, string method,
        double tol, int? maxIter, string outPath) : Generic
    {
        public override void Run<T>()
        {
            PathChecks.InputFile(rhsPath, "--rhs");
            if (!(damping >= 0) || double.IsInfinity(damping)) throw CliException.Usage($"--damping must be finite and >= 0, got {damping}.");
            if (!(tol > 0) || tol >= 1) throw CliException.Usage($"--tol must be in (0, 1), got {tol}.");
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            var b = CurvatureCommandOptions.ReadVectors<T>(rhsPath, "--rhs", op.Columns);
            Tensor<T> x;
            if (method == "kfac")
            {
                LinearOperator<T> inverse = op switch
                {
                    KfacOperator<T> kfac => kfac.Inverse(damping, KfacDamping.Exact),
                    EkfacOperator<T> ekfac => ekfac.Inverse(damping),
                    _ => throw CliException.Usage($"--method kfac needs --curvature kfac or ekfac, got {parsed.GetValue(c.Curvature)}."),
                };
                x = b.Rank == 1 ? inverse.MatVec(b) : inverse.MatMat(b);
            }
            else
            {
                var solver = new ConjugateGradient<T>(op, options: new SolverOptions { Damping = damping, Tolerance = tol, MaxIterations = maxIter });
                var result = progress.Step("conjugate gradients", () => solver.Solve(b));
                if (!result.Converged)
                    throw CliException.BadInput($"CG did not converge ({result.Status} after {result.Iterations} iterations, relative residual {result.ResidualNorm:G3}): {result.Message}; {outPath} was not written.");
                x = result.Solution;
            }
            if (!x.AllFinite()) throw CliException.BadInput($"the solution has non-finite elements; {outPath} was not written.");
            Npy.Write(outPath, x);
        }
    }

    // ------------------------------------------------------------------ density

    public static Command Density(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "slq (stochastic Lanczos quadrature).", ["slq"], required: false, defaultValue: "slq");
        var probes = CliOptions.PositiveInt("--probes", "Random probe vectors.", 8);
        var steps = CliOptions.PositiveInt("--steps", "Lanczos steps per probe.", 40);
        var points = CliOptions.PositiveInt("--points", "Grid points.", 400);
        var output = CliOptions.OutputFile("--out", "Output JSON: grid and density.");
        var plot = ChartFiles.Option("Plots of the density (log-scaled density; log-scaled eigenvalues for a PSD curvature).", required: true);
        return Make("density", "Spectral density of a curvature matrix by stochastic Lanczos quadrature, with PNG/SVG plots.", context,
            [method, probes, steps, points, output, plot], ["--out"],
            (parsed, c, progress) => new DensityRun(parsed, c, progress, parsed.GetValue(probes), parsed.GetValue(steps), parsed.GetValue(points),
                parsed.GetRequiredValue(output), ChartFiles.Check(parsed.GetValue(plot))), out _);
    }

    private sealed class DensityRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, int probes, int steps, int points, string outPath,
        IReadOnlyList<string> plotPaths) : Generic
    {
        public override void Run<T>()
        {
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            int m = Math.Min(steps, op.Columns);
            int seed = parsed.GetValue(c.Seed);
            var result = progress.Step("stochastic Lanczos quadrature", () => Spectrum.Estimate(op, probes, m, points, seed));
            var chart = Spectrum.Chart($"Spectral density of the {parsed.GetValue(c.Curvature)} ({op.Columns:N0} parameters)", result.LogScale)
                .Add($"SLQ, {probes} probes x {m} Lanczos steps", result.Eigenvalues, result.Density);
            var json = JsonSerializer.Serialize(new
            {
                grid = result.Grid, density = result.Density, log_scale = result.LogScale, probes, lanczos_steps = m, matvecs = result.MatVecs,
            }, Json);
            AtomicFile.WriteAllText(outPath, json);
            ChartFiles.Write(chart, plotPaths);
        }
    }

    /// <summary>A Spectre.Console status spinner on stderr for long steps, then one line with the step's time;
    /// silent with --quiet or when stderr is not a terminal (CI, tests, pipes).</summary>
    internal sealed class Progress(CliContext context, bool quiet)
    {
        private readonly Spectre.Console.IAnsiConsole? _console = quiet || Console.IsErrorRedirected || !ReferenceEquals(context.Error, Console.Error)
            ? null
            : Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(Console.Error) });

        public TResult Step<TResult>(string what, Func<TResult> work)
        {
            if (_console is null) return work();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var result = _console.Status().Start(what + " ...", _ => work());
            _console.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"[grey]{Spectre.Console.Markup.Escape(what)}: {watch.Elapsed.TotalSeconds:F1} s[/]"));
            return result;
        }
    }
}

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
    private static Command Make(string name, string description, CliContext context, Option[] extra,
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
        var tol = CliOptions.Real("--tol", "Relative residual tolerance of the Ritz pairs.", 1e-6, CliOptions.IsFraction, "in (0, 1)");
        return Make("eigs", "The K largest-magnitude eigenvalues of a curvature matrix (thick-restart Lanczos).", context, [k, output, tol],
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
            Results.EnsureFinite(Tensor<double>.FromArray(values, values.Length), "eigenvalue list", outPath);
            Processes.WriteOutputs(() => AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(new { eigenvalues = values, matvecs = result.MatVecs }, Json)));
        }
    }

    // ------------------------------------------------------------------ trace

    public static Command Trace(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "exact (P matvecs, or KFAC's closed form), hutchinson, hutchpp or xtrace.", ["exact", "hutchinson", "hutchpp", "xtrace"], required: false, defaultValue: "hutchpp");
        var samples = CliOptions.PositiveInt("--samples", "Number of matrix-vector products of the estimator: hutchpp needs a multiple of 3, xtrace an even number; hutchinson >= 2 for a standard error.", 30, "M");
        var output = CliOptions.OutputFile("--out", "Output JSON: {\"trace\": t, ...}.");
        var command = Make("trace", "Trace of a curvature matrix, exact or estimated from matrix-vector products.", context, [method, samples, output],
            (parsed, c, progress) => new TraceRun(parsed, c, progress, parsed.GetValue(method)!, parsed.GetValue(samples), parsed.GetRequiredValue(output)), out _);
        ValidateSamples(command, method, samples);
        return command;
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
            Results.EnsureFinite(estimate.Estimate, "trace estimate", typeof(T), outPath);
            // One sample (or one probe pair) gives no spread: the standard error is unknown, written as null.
            double? standardError = double.IsFinite(estimate.StandardError) ? estimate.StandardError : null;
            Processes.WriteOutputs(() => AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(new
            {
                trace = estimate.Estimate, standard_error = standardError, matvecs = estimate.MatVecs, method = estimate.Method,
            }, Json)));
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

    /// <summary>Hutch++ splits its products in thirds, XTrace and XDiag in halves: a count that does not divide is a
    /// usage error at parse time, with the nearest valid counts.</summary>
    private static void ValidateSamples(Command command, Option<string> method, Option<int> samples)
    {
        command.Validators.Add(result =>
        {
            int divisor = result.GetValue(method) switch { "hutchpp" => 3, "xtrace" or "xdiag" => 2, _ => 1 };
            int m = result.GetValue(samples);
            if (m % divisor == 0) return;
            int below = m / divisor * divisor, above = below + divisor;
            string nearest = below > 0 ? $"{below} or {above}" : $"{above}";
            result.AddError($"--samples {m}: --method {result.GetValue(method)} needs a multiple of {divisor} (nearest: {nearest}).");
        });
    }

    // ------------------------------------------------------------------ diag

    public static Command Diag(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "exact (P matvecs), hutchinson or xdiag.", ["exact", "hutchinson", "xdiag"], required: false, defaultValue: "xdiag");
        var samples = CliOptions.PositiveInt("--samples", "Number of matrix-vector products of the estimator: xdiag needs an even number.", 30, "M");
        var output = CliOptions.OutputFile("--out", "Output .npy: the diagonal [P].");
        var command = Make("diag", "Diagonal of a curvature matrix, exact or estimated.", context, [method, samples, output],
            (parsed, c, progress) => new DiagRun(parsed, c, progress, parsed.GetValue(method)!, parsed.GetValue(samples), parsed.GetRequiredValue(output)), out _);
        ValidateSamples(command, method, samples);
        return command;
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
            Results.EnsureFinite(diag, "diagonal", outPath);
            Processes.WriteOutputs(() => Npy.Write(outPath, diag));
        }
    }

    // ------------------------------------------------------------------ solve

    public static Command Solve(CliContext context)
    {
        var damping = CliOptions.Real("--damping", "lambda in (C + lambda I) x = v; needed when C is singular (KFAC/EKFAC of cross-entropy always are).", 0, d => d >= 0 && double.IsFinite(d), "finite and >= 0", "lambda");
        var rhs = CliOptions.InputFile("--rhs", "Right-hand side .npy: [P] or [P, K].");
        var method = CurvatureCommandOptions.Choice("--method", "cg (conjugate gradients, C + lambda I positive definite), minres (symmetric, possibly indefinite C + lambda I, e.g. the Hessian) or kfac (the exactly damped KFAC/EKFAC inverse).", ["cg", "minres", "kfac"], required: false, defaultValue: "cg");
        var tol = CliOptions.Real("--tol", "Relative residual tolerance of CG and MINRES.", 1e-8, CliOptions.IsFraction, "in (0, 1)");
        var maxIter = CliOptions.OptionalPositiveInt("--max-iterations", "CG/MINRES iteration limit (default: max(10 P, 100)).");
        var output = CliOptions.OutputFile("--out", "Output .npy with the solution, same shape as --rhs.");
        return Make("solve", "Solve (C + lambda I) x = v for a curvature matrix C.", context, [damping, rhs, method, tol, maxIter, output],
            (parsed, c, progress) => new SolveRun(parsed, c, progress, parsed.GetValue(damping), parsed.GetRequiredValue(rhs), parsed.GetValue(method)!,
                parsed.GetValue(tol), parsed.GetValue(maxIter), parsed.GetRequiredValue(output)), out _);
    }

    private sealed class SolveRun(ParseResult parsed, CurvatureCommandOptions c, Progress progress, double damping, string rhsPath, string method,
        double tol, int? maxIter, string outPath) : Generic
    {
        public override void Run<T>()
        {
            if (method == "kfac" && parsed.GetValue(c.Curvature) is not ("kfac" or "ekfac"))
                throw CliException.Usage($"--method kfac needs --curvature kfac or ekfac, got {parsed.GetValue(c.Curvature)}.");
            var op = progress.Step("building the operator", () => c.Build<T>(parsed).Operator);
            var b = CurvatureCommandOptions.ReadVectors<T>(rhsPath, "--rhs", op.Columns);
            Tensor<T> x;
            if (method == "kfac")
            {
                LinearOperator<T> inverse;
                try
                {
                    inverse = op is KfacOperator<T> kfac ? kfac.Inverse(damping, KfacDamping.Exact) : ((EkfacOperator<T>)op).Inverse(damping);
                }
                catch (SingularOperatorException e)
                {
                    throw CliException.BadInput($"{e.Block} is singular to working precision (damped eigenvalue {e.Eigenvalue:G3} <= {e.Threshold:G3}, " +
                        $"its largest is {e.LargestEigenvalue:G3}) with --damping {damping:G3}: pass --damping well above {e.Threshold:G3}, " +
                        $"e.g. --damping {SingularOperatorException.SuggestedDamping(e.LargestEigenvalue):G2}; {outPath} was not written.");
                }
                x = b.Rank == 1 ? inverse.MatVec(b) : inverse.MatMat(b);
            }
            else
            {
                var options = new SolverOptions { Damping = damping, Tolerance = tol, MaxIterations = maxIter };
                KrylovSolver<T> solver = method == "minres" ? new Minres<T>(op, options: options) : new ConjugateGradient<T>(op, options: options);
                var result = progress.Step(method == "minres" ? "MINRES" : "conjugate gradients", () => solver.Solve(b));
                if (!result.Converged)
                {
                    string hint = result.Status switch
                    {
                        SolveStatus.IndefiniteDetected => " Try --method minres (symmetric indefinite systems) or a larger --damping.",
                        SolveStatus.ToleranceNotAttainable => $" Try a larger --tol (the relative residual reached was {result.ResidualNorm:G3}) or a larger --damping{(method == "cg" ? "; --method minres minimises the residual and also handles singular systems" : "")}.",
                        SolveStatus.MaxIterations => " Try a larger --max-iterations or --damping.",
                        _ => "",
                    };
                    throw CliException.BadInput($"{method.ToUpperInvariant()} did not converge ({result.Status} after {result.Iterations} iterations, relative residual {result.ResidualNorm:G3}): {result.Message.TrimEnd('.')}.{hint} {outPath} was not written.");
                }
                x = result.Solution;
            }
            Results.EnsureFinite(x, "solution", outPath);
            Processes.WriteOutputs(() => Npy.Write(outPath, x));
        }
    }

    // ------------------------------------------------------------------ density

    /// <summary>Bounds of density's sizes: far beyond any useful density (SLQ's error falls like 1/sqrt(probes)), and
    /// small enough that the JSON and the SVG stay a few MB.</summary>
    private const int MaxProbes = 10_000, MaxPoints = 100_000;

    public static Command Density(CliContext context)
    {
        var method = CurvatureCommandOptions.Choice("--method", "slq (stochastic Lanczos quadrature).", ["slq"], required: false, defaultValue: "slq");
        var probes = CliOptions.PositiveInt("--probes", "Random probe vectors.", 8, maximum: MaxProbes);
        var steps = CliOptions.PositiveInt("--steps", "Lanczos steps per probe (at most the dimension P).", 40, maximum: MaxProbes);
        var points = CliOptions.PositiveInt("--points", "Grid points.", 400, maximum: MaxPoints);
        var output = CliOptions.OutputFile("--out", "Output JSON: grid and density.");
        var plot = ChartFiles.Option("Plots of the density (log-scaled density; log-scaled eigenvalues for a PSD curvature).", required: true);
        return Make("density", "Spectral density of a curvature matrix by stochastic Lanczos quadrature, with PNG/SVG plots.", context,
            [method, probes, steps, points, output, plot],
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
            Results.EnsureFinite(Tensor<double>.FromArray(result.Density, result.Density.Length), "density", outPath);
            var chart = Spectrum.Chart($"Spectral density of the {parsed.GetValue(c.Curvature)} ({op.Columns:N0} parameters)", result.LogScale)
                .Add($"SLQ, {probes} probes x {m} Lanczos steps", result.Eigenvalues, result.Density);
            var json = JsonSerializer.Serialize(new
            {
                grid = result.Grid, density = result.Density, log_scale = result.LogScale, probes, lanczos_steps = m, matvecs = result.MatVecs,
            }, Json);
            Processes.WriteOutputs(() =>
            {
                AtomicFile.WriteAllText(outPath, json);
                ChartFiles.Write(chart, plotPaths);
            });
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

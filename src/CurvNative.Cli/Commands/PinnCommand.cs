using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using CurvNative.Cli.Reports;
using CurvNative.Interop;
using CurvNative.NN.Modules;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;
using CurvNative.Pinn.Training;
using CurvNative.Tensors;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative pinn</c>: trains a physics-informed network on a known-solution problem with an energy natural
/// gradient method (or Adam) and writes DIR/model.json, weights.safetensors, history.json, l2.svg, and a checkpoint
/// that <c>--resume</c> continues from. Every file is written atomically; Ctrl-C stops after the current step and still
/// writes DIR.
/// </summary>
internal static class PinnCommand
{
    private const string CheckpointFile = "checkpoint.safetensors";

    public static Command Create(CliContext context)
    {
        var problem = new Option<string>("--problem") { Description = $"The PDE: {string.Join(", ", PinnProblem.Names)}.", Required = true, HelpName = "P" };
        var optimizer = new Option<string>("--optimizer") { Description = $"The optimizer: {string.Join(", ", PinnOptimizer.Names)}.", Required = true, HelpName = "O" };
        var budget = PositiveDouble("--time-budget", "Stop after this much training time, in seconds (with --steps: whichever comes first).", "SECONDS");
        var steps = new Option<long?>("--steps") { Description = "Stop after K steps in total.", HelpName = "K", CustomParser = r => ParseLong(r, "--steps") };
        var seed = CliOptions.Int("--seed", "Seeds the initialisation, the points of every step and the sketches.", 0, "S");
        var outDir = new Option<string>("--out") { Description = "Output directory (created if missing).", Required = true, HelpName = "DIR" };
        var lr = PositiveDouble("--lr", "A fixed step size eta (default: ENGD's grid line search eta in {0.5^k}; Adam: 1e-3).", "ETA");
        var lineSearch = new Option<bool>("--line-search") { Description = "Use the grid line search (the default for the natural-gradient methods; not with --lr)." };
        var damping = NonNegativeDouble("--damping", "The damping lambda (default 1e-10; engd 1e-8; hessian-free 0.1).", "L");
        var momentum = NonNegativeDouble("--momentum", "SPRING's momentum mu in [0, 1) (default 0.3).", "MU");
        var sketch = new Option<int?>("--sketch") { Description = "Nyström sketch size L (default N/10).", HelpName = "L", CustomParser = r => (int?)ParseLong(r, "--sketch") };
        var normConstraint = PositiveDouble("--norm-constraint", "SPRING's norm constraint C: steps of norm at most C (default none).", "C");
        var hidden = new Option<string?>("--hidden") { Description = "Hidden widths, comma-separated (default per problem, poisson5d: 64,64,48,48).", HelpName = "W1,W2,..." };
        var interior = new Option<int?>("--interior") { Description = "Interior points per step.", HelpName = "N", CustomParser = r => (int?)ParseLong(r, "--interior") };
        var boundary = new Option<int?>("--boundary") { Description = "Boundary points per step.", HelpName = "M", CustomParser = r => (int?)ParseLong(r, "--boundary") };
        var evalPoints = CliOptions.PositiveInt("--eval-points", "Held-out points of the relative L2 error.", 30_000, "E");
        var evalEvery = CliOptions.PositiveInt("--eval-every", "Evaluate (and print) every K steps.", 10, "K");
        var resume = new Option<string?>("--resume") { Description = "Continue the run whose checkpoint is in this directory (same problem, optimizer and sizes).", HelpName = "DIR" };
        var quiet = new Option<bool>("--quiet") { Description = "No progress lines." };
        var checkpointEvery = PositiveDouble("--checkpoint-every", "Write the checkpoint every this many seconds (default 60).", "SECONDS");

        var command = new Command("pinn", "Train a physics-informed network with energy natural gradients (ENGD, ENGD-Woodbury, SPRING, Nyström, Hessian-free) or Adam.")
        {
            problem, optimizer, budget, steps, seed, outDir, lr, lineSearch, damping, momentum, sketch, normConstraint,
            hidden, interior, boundary, evalPoints, evalEvery, resume, quiet, checkpointEvery,
        };
        command.SetAction(parsed =>
        {
            var run = new RunSettings(
                Problem: Create(() => PinnProblem.Create(parsed.GetRequiredValue(problem)), "--problem"),
                Optimizer: parsed.GetRequiredValue(optimizer),
                Budget: parsed.GetValue(budget), Steps: parsed.GetValue(steps), Seed: parsed.GetValue(seed),
                Out: parsed.GetRequiredValue(outDir), LearningRate: parsed.GetValue(lr), Damping: parsed.GetValue(damping),
                Momentum: parsed.GetValue(momentum), Sketch: parsed.GetValue(sketch), NormConstraint: parsed.GetValue(normConstraint),
                Hidden: parsed.GetValue(hidden), Interior: parsed.GetValue(interior), Boundary: parsed.GetValue(boundary),
                EvalPoints: parsed.GetValue(evalPoints), EvalEvery: parsed.GetValue(evalEvery),
                Resume: parsed.GetValue(resume), Quiet: parsed.GetValue(quiet), CheckpointSeconds: parsed.GetValue(checkpointEvery) ?? 60);
            if (run.Budget is null && run.Steps is null) throw CliException.Usage("give --time-budget SECONDS or --steps K.");
            if (run.LearningRate is not null && parsed.GetValue(lineSearch)) throw CliException.Usage("--lr and --line-search exclude each other.");
            return Run(context, run);
        });
        return command;
    }

    private sealed record RunSettings(PinnProblem Problem, string Optimizer, double? Budget, long? Steps, int Seed, string Out,
        double? LearningRate, double? Damping, double? Momentum, int? Sketch, double? NormConstraint, string? Hidden,
        int? Interior, int? Boundary, int EvalPoints, int EvalEvery, string? Resume, bool Quiet, double CheckpointSeconds);

    private static int Run(CliContext context, RunSettings s)
    {
        var problem = s.Problem;
        var hidden = s.Hidden is null ? problem.DefaultHidden.ToArray() : ParseHidden(s.Hidden);
        int interior = s.Interior ?? problem.DefaultInterior, boundary = s.Boundary ?? problem.DefaultBoundary;
        var optimizer = Create(() => new PinnOptimizerSettings(s.Optimizer, s.LearningRate, s.Damping, s.Momentum, s.Sketch, s.NormConstraint, s.Seed, interior + boundary).Create(), null);
        string dir = PrepareDirectory(s.Out);
        var model = PinnNetwork.Mlp(problem.Dimension, hidden, s.Seed);
        var trainer = new PinnTrainer(problem, model, optimizer, new PinnTrainingOptions(interior, boundary, s.Seed, s.EvalPoints, s.EvalEvery));
        int parameters = trainer.Map.ParameterCount;
        var identity = new Dictionary<string, string>
        {
            ["problem"] = problem.Name, ["optimizer"] = optimizer.Name, ["seed"] = s.Seed.ToString(CultureInfo.InvariantCulture),
            ["hidden"] = string.Join(",", hidden), ["interior"] = interior.ToString(CultureInfo.InvariantCulture),
            ["boundary"] = boundary.ToString(CultureInfo.InvariantCulture),
        };
        if (s.Resume is { } from) LoadCheckpoint(trainer, from, identity);

        var output = context.Out;
        if (!s.Quiet)
            output.WriteLine($"pinn: {problem.Name} ({problem.Description}), {optimizer.Name}, P = {parameters}, N = {interior} + {boundary}, threads {CurvNative.Threading.ThreadSettings.Count} (--threads)");
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        PinnRecord last;
        try
        {
            double previousTime = trainer.ElapsedSeconds; long previousStep = trainer.Steps;
            last = trainer.Run(s.Steps, s.Budget, cancel.Token,
                onRecord: s.Quiet ? null : r =>
                {
                    double rate = r.TimeSeconds > previousTime ? (r.Step - previousStep) / (r.TimeSeconds - previousTime) : 0;
                    previousTime = r.TimeSeconds; previousStep = r.Step;
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"step {r.Step,7}  loss {r.Loss,10:E3}  l2_rel {r.RelativeL2,10:E3}  {r.TimeSeconds,8:F1} s  {rate,7:F2} steps/s  eta {r.StepSize:G3}{(r.Note is null ? "" : "  " + r.Note)}"));
                    output.Flush();
                },
                onCheckpoint: () => WriteCheckpoint(trainer, dir, identity),
                checkpointSeconds: s.CheckpointSeconds);
        }
        finally { Console.CancelKeyPress -= onCancel; }

        WriteOutputs(trainer, dir, identity, hidden);
        if (!s.Quiet)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(cancel.IsCancellationRequested ? "interrupted" : "done")}: {last.Step} steps, {last.TimeSeconds:F1} s, relative L2 {last.RelativeL2:E3}; wrote {dir}"));
        if (!double.IsFinite(last.Loss))
            throw CliException.BadInput($"training diverged (non-finite loss at step {last.Step}); the last finite state was written to {dir}.");
        return ExitCodes.Success;
    }

    private static void WriteOutputs(PinnTrainer trainer, string dir, IReadOnlyDictionary<string, string> identity, int[] hidden)
    {
        var problem = trainer.Map.Problem;
        AtomicFile.WriteAllText(Path.Combine(dir, "model.json"), PinnNetwork.SpecJson(problem.Dimension, hidden));
        ModelFiles<double>.SaveWeights(trainer.Map.Model, Path.Combine(dir, "weights.safetensors"));
        AtomicFile.WriteAllText(Path.Combine(dir, "history.json"), HistoryJson(trainer, identity));
        var h = trainer.History;
        var finite = Enumerable.Range(0, h.Count).Where(i => double.IsFinite(h.RelativeL2[i]) && h.RelativeL2[i] > 0).ToArray();
        if (finite.Length > 0)
        {
            var chart = new CurvNative.Plots.LineChart($"{problem.Name}, {trainer.Optimizer.Name}: relative L2 error", "training time [s]", "relative L2 error")
                { YScale = CurvNative.Plots.AxisScale.Log10 }
                .Add(trainer.Optimizer.Name, finite.Select(i => h.TimeSeconds[i]).ToArray(), finite.Select(i => h.RelativeL2[i]).ToArray(), markers: true);
            Reports.ChartFiles.Write(chart, [Path.Combine(dir, "l2.svg"), Path.Combine(dir, "l2.png")]);
        }
        WriteCheckpoint(trainer, dir, identity);
    }

    private static string HistoryJson(PinnTrainer trainer, IReadOnlyDictionary<string, string> identity)
    {
        var h = trainer.History;
        static object Number(double v) => double.IsFinite(v) ? v : v.ToString(CultureInfo.InvariantCulture);
        int last = h.Count - 1;
        var document = new Dictionary<string, object?>
        {
            ["problem"] = identity["problem"],
            ["optimizer"] = identity["optimizer"],
            ["seed"] = int.Parse(identity["seed"], CultureInfo.InvariantCulture),
            ["parameters"] = trainer.Map.ParameterCount,
            ["hidden"] = identity["hidden"],
            ["interior"] = int.Parse(identity["interior"], CultureInfo.InvariantCulture),
            ["boundary"] = int.Parse(identity["boundary"], CultureInfo.InvariantCulture),
            ["step"] = h.Step,
            ["time_s"] = h.TimeSeconds,
            ["loss"] = h.Loss.Select(Number).ToList(),
            ["l2_rel"] = h.RelativeL2.Select(Number).ToList(),
            ["final"] = last < 0 ? null : new Dictionary<string, object>
            {
                ["step"] = h.Step[last], ["time_s"] = h.TimeSeconds[last], ["loss"] = Number(h.Loss[last]), ["l2_rel"] = Number(h.RelativeL2[last]),
            },
        };
        return JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>The parameters (by name), the optimizer state ("opt." names), and the progress and run identity as
    /// metadata, with the history beside it in history.json.</summary>
    private static void WriteCheckpoint(PinnTrainer trainer, string dir, IReadOnlyDictionary<string, string> identity)
    {
        var tensors = new Dictionary<string, object>();
        foreach (var p in trainer.Map.Model.Parameters()) tensors[p.Name] = p.Value;
        foreach (var (name, buffer) in trainer.Optimizer.State()) tensors["opt." + name] = Tensor<double>.FromArray((double[])buffer.Clone(), buffer.Length);
        var metadata = new Dictionary<string, string>(identity)
        {
            ["steps"] = trainer.Steps.ToString(CultureInfo.InvariantCulture),
            ["time_s"] = trainer.ElapsedSeconds.ToString("R", CultureInfo.InvariantCulture),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "history.json"), HistoryJson(trainer, identity));
        SafetensorsFile.Write(Path.Combine(dir, CheckpointFile), tensors, metadata);
    }

    private static void LoadCheckpoint(PinnTrainer trainer, string from, IReadOnlyDictionary<string, string> identity)
    {
        string path = Path.Combine(from, CheckpointFile), historyPath = Path.Combine(from, "history.json");
        if (!File.Exists(path)) throw CliException.BadInput($"{path}: no checkpoint to resume from (--resume).");
        var file = SafetensorsFile.Read(path);
        foreach (var (key, value) in identity)
            if (!file.Metadata.TryGetValue(key, out var saved) || saved != value)
                throw CliException.BadInput($"{path}: the checkpoint's {key} is '{(saved ?? "missing")}' but this run's is '{value}' (--resume needs the same run settings).");
        foreach (var p in trainer.Map.Model.Parameters())
        {
            if (!file.Contains(p.Name)) throw CliException.BadInput($"{path}: the checkpoint has no parameter '{p.Name}'.");
            var t = file.GetTensor<double>(p.Name);
            if (!t.Shape.SequenceEqual(p.Shape)) throw CliException.BadInput($"{path}: parameter '{p.Name}' is {Shape.Format(t.Shape)}, expected {Shape.Format(p.Shape)}.");
            TensorChecks.EnsureFinite(t, path, p.Name);
            t.Span.CopyTo(p.Value.Span);
        }
        var state = file.Names.Where(n => n.StartsWith("opt.", StringComparison.Ordinal))
            .ToDictionary(n => n[4..], n => file.GetTensor<double>(n).ToArray());
        var history = ReadHistory(historyPath);
        long steps = long.Parse(file.Metadata["steps"], CultureInfo.InvariantCulture);
        double time = double.Parse(file.Metadata["time_s"], CultureInfo.InvariantCulture);
        try { trainer.Restore(history, steps, time, state); }
        catch (ArgumentException e) { throw CliException.BadInput($"{path}: {e.Message}"); }
    }

    private static PinnHistory ReadHistory(string path)
    {
        if (!File.Exists(path)) throw CliException.BadInput($"{path}: the history of the run to resume is missing.");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            static double Value(JsonElement e) => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : double.Parse(e.GetString()!, CultureInfo.InvariantCulture);
            var step = root.GetProperty("step").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var time = root.GetProperty("time_s").EnumerateArray().Select(Value).ToArray();
            var loss = root.GetProperty("loss").EnumerateArray().Select(Value).ToArray();
            var l2 = root.GetProperty("l2_rel").EnumerateArray().Select(Value).ToArray();
            if (time.Length != step.Length || loss.Length != step.Length || l2.Length != step.Length)
                throw CliException.BadInput($"{path}: step, time_s, loss and l2_rel have different lengths.");
            var history = new PinnHistory();
            for (int i = 0; i < step.Length; i++) history.Add(step[i], time[i], loss[i], l2[i]);
            return history;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw CliException.BadInput($"{path}: not a pinn history ({e.Message}).");
        }
    }

    private static string PrepareDirectory(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage("--out needs a directory path.");
        if (File.Exists(path)) throw CliException.BadInput($"{path}: is a file; expected a directory (--out).");
        try { return Directory.CreateDirectory(path).FullName; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        { throw CliException.BadInput($"{path}: cannot create the output directory ({e.Message})."); }
    }

    internal static int[] ParseHidden(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var widths = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out widths[i]) || widths[i] < 1)
                throw CliException.Usage($"--hidden must be positive integers separated by commas (e.g. 64,64,48,48), got '{text}'.");
        return widths;
    }

    private static T Create<T>(Func<T> create, string? option)
    {
        try { return create(); }
        catch (ArgumentException e) { throw CliException.Usage(option is null ? e.Message : $"{option}: {e.Message}"); }
    }

    private static Option<double?> PositiveDouble(string name, string description, string helpName) => new(name)
    {
        Description = description, HelpName = helpName,
        CustomParser = r => ParseDouble(r, name, positive: true),
    };

    private static Option<double?> NonNegativeDouble(string name, string description, string helpName) => new(name)
    {
        Description = description, HelpName = helpName,
        CustomParser = r => ParseDouble(r, name, positive: false),
    };

    private static double? ParseDouble(ArgumentResult result, string name, bool positive)
    {
        if (result.Tokens.Count == 0) return null;
        var text = result.Tokens[0].Value;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || (positive ? v <= 0 : v < 0))
        {
            result.AddError($"{name} must be a {(positive ? "positive" : "non-negative")} number, got '{text}'.");
            return null;
        }
        return v;
    }

    private static long? ParseLong(ArgumentResult result, string name)
    {
        if (result.Tokens.Count == 0) return null;
        var text = result.Tokens[0].Value;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) || v < 1 || v > int.MaxValue)
        {
            result.AddError($"{name} must be a positive integer, got '{text}'.");
            return null;
        }
        return v;
    }
}

using System.Diagnostics;
using CurvNative.NN.Modules;
using CurvNative.Pinn.Optimizers;
using CurvNative.Pinn.Problems;

namespace CurvNative.Pinn.Training;

/// <summary>The recorded training curve: parallel lists, one entry per evaluation.</summary>
public sealed class PinnHistory
{
    /// <summary>Step counts (0 = the initial network).</summary>
    public List<long> Step { get; } = [];

    /// <summary>Training time in seconds at each record (optimizer steps only; evaluations excluded).</summary>
    public List<double> TimeSeconds { get; } = [];

    /// <summary>The loss 1/2 ||r||^2 on the step's batch before its update (step 0: on batch 0).</summary>
    public List<double> Loss { get; } = [];

    /// <summary>The relative L2 error on the held-out points after the step.</summary>
    public List<double> RelativeL2 { get; } = [];

    /// <summary>Appends one record.</summary>
    public void Add(long step, double time, double loss, double l2)
    {
        Step.Add(step); TimeSeconds.Add(time); Loss.Add(loss); RelativeL2.Add(l2);
    }

    /// <summary>The number of records.</summary>
    public int Count => Step.Count;
}

/// <summary>One progress record.</summary>
/// <param name="Step">Steps taken.</param>
/// <param name="TimeSeconds">Training time.</param>
/// <param name="Loss">The loss.</param>
/// <param name="RelativeL2">The relative L2 error.</param>
/// <param name="StepSize">The last step size.</param>
/// <param name="Note">The last numerical note, if any.</param>
public sealed record PinnRecord(long Step, double TimeSeconds, double Loss, double RelativeL2, double StepSize, string? Note);

/// <summary>Sizes and seeds of a run.</summary>
/// <param name="Interior">N_Omega, interior points per step.</param>
/// <param name="Boundary">N_dOmega, boundary points per step.</param>
/// <param name="Seed">Seeds the points of every step (and, through the caller, the initialisation).</param>
/// <param name="EvaluationPoints">E, held-out points of the relative L2 error.</param>
/// <param name="EvaluateEvery">Record every K steps (and at the end).</param>
public sealed record PinnTrainingOptions(int Interior, int Boundary, int Seed, int EvaluationPoints = 30_000, int EvaluateEvery = 10);

/// <summary>
/// Trains a PINN: at step k (1-based) it draws fresh points (<see cref="PinnBatch.Draw"/> from (seed, k), so a resumed run
/// sees the same points), takes one optimizer step and, every K steps, records the loss and the held-out relative L2
/// error. Deterministic for a seed (bitwise with one BLAS thread).
/// </summary>
public sealed class PinnTrainer
{
    private readonly L2Evaluator _evaluator;

    /// <summary>A trainer for <paramref name="model"/> on <paramref name="problem"/> with <paramref name="optimizer"/>.</summary>
    public PinnTrainer(PinnProblem problem, Module<double> model, PinnOptimizer optimizer, PinnTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Interior < 1 || options.Boundary < 0)
            throw new ArgumentException($"Need at least one interior point and no negative boundary count, got {options.Interior} and {options.Boundary}.");
        if (options.EvaluateEvery < 1) throw new ArgumentException($"The evaluation interval must be positive, got {options.EvaluateEvery}.");
        Map = new ResidualMap(problem, model);
        Optimizer = optimizer;
        Options = options;
        _evaluator = new L2Evaluator(problem, options.EvaluationPoints);
    }

    /// <summary>The residual map (problem, network, parameters).</summary>
    public ResidualMap Map { get; }

    /// <summary>The optimizer.</summary>
    public PinnOptimizer Optimizer { get; }

    /// <summary>The run's sizes and seeds.</summary>
    public PinnTrainingOptions Options { get; }

    /// <summary>The curve so far.</summary>
    public PinnHistory History { get; private set; } = new();

    /// <summary>Steps taken so far.</summary>
    public long Steps { get; private set; }

    /// <summary>Training time so far, in seconds.</summary>
    public double ElapsedSeconds { get; private set; }

    /// <summary>The relative L2 error of the current network.</summary>
    public double RelativeL2() => _evaluator.RelativeError(Map.Model);

    /// <summary>Continues a run from a checkpoint: its history, steps, time and optimizer state (the parameters are the
    /// model's, loaded by the caller).</summary>
    public void Restore(PinnHistory history, long steps, double elapsedSeconds, IReadOnlyDictionary<string, double[]> optimizerState)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfNegative(steps);
        History = history;
        Steps = steps;
        ElapsedSeconds = elapsedSeconds;
        Optimizer.LoadState(optimizerState);
    }

    /// <summary>
    /// Runs until <paramref name="maxSteps"/> steps in total or <paramref name="timeBudgetSeconds"/> of training time in
    /// total (either may be null, not both), or until <paramref name="cancel"/> is signalled (checked between steps).
    /// <paramref name="onRecord"/> sees every record; <paramref name="onCheckpoint"/> is called every
    /// <paramref name="checkpointSeconds"/> of wall time. A non-finite loss ends the run (reported by the last record's note).
    /// </summary>
    public PinnRecord Run(long? maxSteps, double? timeBudgetSeconds, CancellationToken cancel = default,
        Action<PinnRecord>? onRecord = null, Action? onCheckpoint = null, double checkpointSeconds = 60)
    {
        if (maxSteps is null && timeBudgetSeconds is null) throw new ArgumentException("Give a number of steps or a time budget.");
        if (maxSteps is < 1) throw new ArgumentOutOfRangeException(nameof(maxSteps), $"The number of steps must be positive, got {maxSteps}.");
        if (timeBudgetSeconds is { } b && !(b > 0)) throw new ArgumentOutOfRangeException(nameof(timeBudgetSeconds), $"The time budget must be positive, got {b}.");
        var o = Options;
        PinnRecord Record(double loss, double eta, string? note)
        {
            var record = new PinnRecord(Steps, ElapsedSeconds, loss, RelativeL2(), eta, note);
            History.Add(record.Step, record.TimeSeconds, record.Loss, record.RelativeL2);
            onRecord?.Invoke(record);
            return record;
        }
        PinnRecord last;
        if (History.Count == 0)
            last = Record(Map.Loss(PinnBatch.Draw(Map.Problem, o.Interior, o.Boundary, o.Seed, 0)), 0, null);
        else
            last = new PinnRecord(Steps, ElapsedSeconds, History.Loss[^1], History.RelativeL2[^1], 0, null);
        var wall = Stopwatch.StartNew();
        double nextCheckpoint = checkpointSeconds;
        bool recorded = true;
        while (!cancel.IsCancellationRequested && (maxSteps is null || Steps < maxSteps) && (timeBudgetSeconds is null || ElapsedSeconds < timeBudgetSeconds))
        {
            long k = Steps + 1;
            var batch = PinnBatch.Draw(Map.Problem, o.Interior, o.Boundary, o.Seed, k);
            long start = Stopwatch.GetTimestamp();
            var info = Optimizer.Step(Map, batch, k);
            ElapsedSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
            Steps = k;
            recorded = false;
            bool diverged = !double.IsFinite(info.Loss);
            if (k % o.EvaluateEvery == 0 || diverged)
            {
                last = Record(info.Loss, info.StepSize, diverged ? "non-finite loss: training stopped" : info.Note);
                recorded = true;
            }
            else last = last with { Step = k, TimeSeconds = ElapsedSeconds, Loss = info.Loss, StepSize = info.StepSize, Note = info.Note };
            if (diverged) break;
            if (onCheckpoint is not null && wall.Elapsed.TotalSeconds >= nextCheckpoint)
            {
                onCheckpoint();
                nextCheckpoint = wall.Elapsed.TotalSeconds + checkpointSeconds;
            }
        }
        if (!recorded) last = Record(last.Loss, last.StepSize, last.Note);
        return last;
    }
}

using System.CommandLine;
using System.Numerics;
using CurvNative.Interop;
using CurvNative.NN.Training;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Tensors;

namespace CurvNative.Cli.Commands;

/// <summary>
/// Options shared by the commands that act on a curvature operator of model files:
/// <c>--curvature</c>, <c>--mc-samples</c>, <c>--seed</c>, <c>--fisher-type</c>, <c>--kfac-approx</c>
/// on top of the model-file options.
/// </summary>
internal sealed class CurvatureCommandOptions
{
    public ModelFileOptions Files { get; } = new();

    public Option<string> Curvature { get; } = Choice("--curvature", "Curvature matrix: hessian, ggn, ef (empirical Fisher), fisher-mc, kfac or ekfac.",
        ["hessian", "ggn", "ef", "fisher-mc", "kfac", "ekfac"], required: true);

    /// <summary>Capped: beyond it the exact type-2 Fisher (--curvature ggn, --fisher-type type-2) is cheaper and exact.</summary>
    public const int MaxMcSamples = 10_000;

    public Option<int> McSamples { get; } = CliOptions.PositiveInt("--mc-samples", "Monte-Carlo samples per data point (fisher-mc, and kfac/ekfac with --fisher-type mc).", 1, maximum: MaxMcSamples);

    public Option<int> Seed { get; } = new("--seed") { Description = "Seed of the Monte-Carlo draws.", DefaultValueFactory = _ => 0 };

    public Option<string> FisherType { get; } = Choice("--fisher-type", "KFAC/EKFAC gradient covariance: type-2, mc, empirical or forward-only (default mc, as curvlinops).",
        ["type-2", "mc", "empirical", "forward-only"], required: false, defaultValue: "mc");

    public Option<string> KfacApprox { get; } = Choice("--kfac-approx", "KFAC weight-sharing approximation: expand or reduce.", ["expand", "reduce"], required: false, defaultValue: "expand");

    public Option<bool> NoDeterminismCheck { get; } = new("--no-determinism-check")
    {
        Description = "Skip the check that two evaluations of one product agree (it costs two extra passes over the data); only for a model and data known to be deterministic (no Dropout or BatchNorm in training mode).",
    };

    public void AddTo(Command command)
    {
        Files.AddTo(command);
        command.Add(NoDeterminismCheck);
        command.Add(Curvature);
        command.Add(McSamples);
        command.Add(Seed);
        command.Add(FisherType);
        command.Add(KfacApprox);
    }

    /// <summary>A string option restricted to <paramref name="values"/>.</summary>
    internal static Option<string> Choice(string name, string description, string[] values, bool required, string? defaultValue = null)
    {
        var option = new Option<string>(name) { Description = description, Required = required };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        option.AcceptOnlyFromAmong(values);
        return option;
    }

    /// <summary>Loads the model files and builds the requested operator.</summary>
    public (DataSetObjective<T> Objective, LinearOperator<T> Operator) Build<T>(ParseResult parsed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var objective = Files.Load<T>(parsed);
        var request = new CurvatureRequest
        {
            Kind = CurvatureRequest.ParseKind(parsed.GetRequiredValue(Curvature)),
            BatchSize = objective.BatchSize,
            McSamples = parsed.GetValue(McSamples),
            Seed = parsed.GetValue(Seed),
            FisherType = CurvatureRequest.ParseFisherType(parsed.GetValue(FisherType)!),
            Approximation = CurvatureRequest.ParseApproximation(parsed.GetValue(KfacApprox)!),
            CheckDeterministic = !parsed.GetValue(NoDeterminismCheck),
            Communicator = Processes.Communicator,
        };
        if (request.McSamples != 1 && request.Kind is CurvatureKind.Kfac or CurvatureKind.Ekfac && request.FisherType != Operators.Curvature.Kfac.FisherType.MonteCarlo)
            throw CliException.Usage($"--mc-samples {request.McSamples} only applies to --fisher-type mc (got {parsed.GetValue(FisherType)}).");
        try
        {
            return (objective, request.Build(objective.Model, objective.LossFunction, objective.Data));
        }
        catch (ArgumentException e)
        {
            // E.g. KFAC on a model with parameters outside Linear/Conv2d layers.
            throw CliException.BadInput($"{parsed.GetRequiredValue(Files.Model)}: {e.Message}");
        }
    }

    /// <summary>Reads a vector [P] or matrix [P, K] from .npy and checks it against the operator's dimension.</summary>
    public static Tensor<T> ReadVectors<T>(string path, string option, int dimension) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var v = Npy.Read<T>(path);
        if (v.Rank is not (1 or 2) || v.Shape[0] != dimension)
            throw new CurvNativeFormatException(path, null, $"expected shape [{dimension}] or [{dimension}, K] ({option}: one value per parameter), found {Shape.Format(v.Shape)}.");
        TensorChecks.EnsureFinite(v, path, null);
        return v;
    }
}

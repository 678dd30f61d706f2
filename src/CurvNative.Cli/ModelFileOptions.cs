using System.CommandLine;
using System.Numerics;
using CurvNative.Interop;
using CurvNative.NN.Training;

namespace CurvNative.Cli;

/// <summary>
/// The options of commands that evaluate a model given as files (<c>--model</c>, <c>--weights</c>, <c>--data</c>,
/// <c>--loss</c>, <c>--reduction</c>, <c>--dtype</c>, <c>--batch-size</c>) and the loading of those files into a
/// <see cref="DataSetObjective{T}"/>. The model is a model.json (with <c>--weights</c>) or an ONNX file, told apart
/// by the extension <c>.onnx</c>.
/// </summary>
internal sealed class ModelFileOptions
{
    public Option<string> Model { get; } = CliOptions.InputFile("--model",
        "Model: a spec (model.json: input shape, layers, loss) or an ONNX file (.onnx, as torch.onnx.export writes it; weights included, loss from --loss).");
    public Option<string> Weights { get; } = CliOptions.InputFile("--weights",
        "Weights (safetensors, keys '<layer>.weight' and '<layer>.bias' in PyTorch layouts). Required with model.json; with an ONNX model they replace its initializers.",
        required: false);
    public Option<string> Data { get; } = CliOptions.InputFile("--data", "Data set (safetensors with 'x' [N, *input_shape] and 'y').");
    public Option<string> Loss { get; } = Commands.CurvatureCommandOptions.Choice("--loss",
        "Loss: cross_entropy, mse or bce_with_logits. Required with an ONNX model; overrides model.json's.", [.. LossSpec.Types], required: false);
    public Option<string> Reduction { get; } = Commands.CurvatureCommandOptions.Choice("--reduction",
        "Loss reduction over samples: mean or sum (default: model.json's, else mean).", [.. LossSpec.Reductions], required: false);
    public Option<string> Dtype { get; } = CliOptions.Dtype();

    /// <summary>The chosen element type (validated at parse time).</summary>
    public DType GetDtype(ParseResult parsed) => CliOptions.ParseDtype(parsed.GetValue(Dtype)) ?? DType.Float64;
    public Option<int?> BatchSize { get; } = CliOptions.BatchSize();

    /// <summary>Adds the options to a command.</summary>
    public void AddTo(Command command)
    {
        command.Add(Model);
        command.Add(Weights);
        command.Add(Data);
        command.Add(Loss);
        command.Add(Reduction);
        command.Add(Dtype);
        command.Add(BatchSize);
    }

    /// <summary>Checks that the options fit the kind of model, before anything is read (the files themselves were
    /// checked by <see cref="PathGuard"/>).</summary>
    private void CheckModelKind(ParseResult parsed)
    {
        var model = parsed.GetRequiredValue(Model);
        bool onnx = ModelFiles<double>.IsOnnx(model);
        if (!onnx && parsed.GetValue(Weights) is null)
            throw CliException.Usage($"{Weights.Name} is required with a model spec ({Text.Quote(model)}); only an ONNX model (.onnx) carries its weights.");
        if (onnx && parsed.GetValue(Loss) is null)
            throw CliException.Usage($"{Loss.Name} is required with an ONNX model ({Text.Quote(model)}), which has no loss: give cross_entropy, mse or bce_with_logits.");
    }

    /// <summary>Loads and cross-checks model, weights and data in <typeparamref name="T"/> precision.</summary>
    public DataSetObjective<T> Load<T>(ParseResult parsed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckModelKind(parsed);
        var modelPath = parsed.GetRequiredValue(Model);
        var files = ModelFiles<T>.Load(modelPath, parsed.GetValue(Weights), parsed.GetRequiredValue(Data), LossOverride(parsed, modelPath));
        if (files.Data.Count == 0)
            throw CliException.BadInput($"{parsed.GetRequiredValue(Data)}, key 'x': the data set has no samples; expected N >= 1.");
        return new DataSetObjective<T>(files.Model, files.Loss, files.Data, parsed.GetValue(BatchSize)) { Communicator = Processes.Communicator };
    }

    /// <summary>The loss the command line sets: --loss with --reduction (default mean), or --reduction alone on
    /// model.json's loss type; null when neither is given.</summary>
    private LossSpec? LossOverride(ParseResult parsed, string modelPath)
    {
        var type = parsed.GetValue(Loss);
        var reduction = LossSpec.ParseReduction(parsed.GetValue(Reduction));
        if (type is null && reduction is null) return null;
        // --reduction alone: model.json's loss type (ONNX needs --loss, checked before).
        type ??= ModelSpec.Load(modelPath).LossType
            ?? throw CliException.Usage($"{Reduction.Name} without {Loss.Name}: {Text.Quote(modelPath)} has no 'loss' to apply it to; give {Loss.Name} too.");
        return new LossSpec(type, reduction ?? NN.Losses.Reduction.Mean);
    }
}

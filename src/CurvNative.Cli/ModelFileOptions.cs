using System.CommandLine;
using System.Numerics;
using CurvNative.Interop;
using CurvNative.NN.Training;

namespace CurvNative.Cli;

/// <summary>
/// The options of commands that evaluate a model given as files (<c>--model</c>, <c>--weights</c>, <c>--data</c>,
/// <c>--dtype</c>, <c>--batch-size</c>) and the loading of those files into a <see cref="DataSetObjective{T}"/>.
/// </summary>
internal sealed class ModelFileOptions
{
    public Option<string> Model { get; } = CliOptions.InputFile("--model", "Model spec (model.json): input shape, layers and loss.");
    public Option<string> Weights { get; } = CliOptions.InputFile("--weights", "Weights (safetensors, keys '<layer>.weight' and '<layer>.bias' in PyTorch layouts).");
    public Option<string> Data { get; } = CliOptions.InputFile("--data", "Data set (safetensors with 'x' [N, *input_shape] and 'y').");
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
        command.Add(Dtype);
        command.Add(BatchSize);
    }

    /// <summary>Checks that the three input files exist (before anything is read).</summary>
    public void CheckInputs(ParseResult parsed)
    {
        PathChecks.InputFile(parsed.GetRequiredValue(Model), Model.Name);
        PathChecks.InputFile(parsed.GetRequiredValue(Weights), Weights.Name);
        PathChecks.InputFile(parsed.GetRequiredValue(Data), Data.Name);
    }

    /// <summary>Loads and cross-checks spec, weights and data in <typeparamref name="T"/> precision.</summary>
    public DataSetObjective<T> Load<T>(ParseResult parsed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var files = ModelFiles<T>.Load(parsed.GetRequiredValue(Model), parsed.GetRequiredValue(Weights), parsed.GetRequiredValue(Data));
        if (files.Data.Count == 0)
            throw CliException.BadInput($"{parsed.GetRequiredValue(Data)}, key 'x': the data set has no samples; expected N >= 1.");
        return new DataSetObjective<T>(files.Model, files.Loss, files.Data, parsed.GetValue(BatchSize)) { Communicator = Processes.Communicator };
    }
}

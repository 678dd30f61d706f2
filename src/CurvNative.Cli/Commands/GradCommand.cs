using System.CommandLine;
using System.Numerics;
using CurvNative.Interop;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative grad</c>: the gradient of the loss over the whole data set, written as a flat .npy vector in the
/// order of torch.nn.utils.parameters_to_vector.
/// </summary>
internal static class GradCommand
{
    public static Command Create(CliContext context)
    {
        var inputs = new ModelFileOptions();
        var output = CliOptions.OutputFile("--out", "Output .npy file: the flat gradient (float32: <f4, float64: <f8), written atomically.");
        var command = new Command("grad", "Write the gradient of the loss over the whole data set as a flat .npy vector (parameters_to_vector order).");
        inputs.AddTo(command);
        command.Add(output);
        command.SetAction(parsed =>
        {
            string outPath = parsed.GetRequiredValue(output);
            if (inputs.GetDtype(parsed) == DType.Float32) Write<float>(inputs, parsed, outPath);
            else Write<double>(inputs, parsed, outPath);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Write<T>(ModelFileOptions inputs, ParseResult parsed, string outPath) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gradient = inputs.Load<T>(parsed).Gradient();
        Results.EnsureFinite(gradient, "gradient", outPath);
        Processes.WriteOutputs(() => Npy.Write(outPath, gradient));
    }
}

using System.CommandLine;
using System.Globalization;
using System.Numerics;

namespace CurvNative.Cli.Commands;

/// <summary><c>curvnative loss</c>: prints the loss over the whole data set with full precision.</summary>
internal static class LossCommand
{
    public static Command Create(CliContext context)
    {
        var inputs = new ModelFileOptions();
        var command = new Command("loss", "Print the loss over the whole data set (round-trip precision).");
        inputs.AddTo(command);
        command.SetAction(parsed =>
        {
            double loss = inputs.GetDtype(parsed) == DType.Float32 ? Evaluate<float>(inputs, parsed) : Evaluate<double>(inputs, parsed);
            context.Out.WriteLine(loss.ToString("R", CultureInfo.InvariantCulture));
            return ExitCodes.Success;
        });
        return command;
    }

    private static double Evaluate<T>(ModelFileOptions inputs, ParseResult parsed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double loss = inputs.Load<T>(parsed).Loss();
        Results.EnsureFinite(loss, "loss", typeof(T), null);
        return loss;
    }
}

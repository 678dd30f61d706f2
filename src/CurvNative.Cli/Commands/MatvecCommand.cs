using System.CommandLine;
using System.Numerics;
using CurvNative.Interop;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative matvec</c>: multiplies a curvature matrix of (model, loss, data) with a vector [P] or the K
/// columns of a matrix [P, K] read from .npy, and writes the product with the same shape.
/// </summary>
internal static class MatvecCommand
{
    public static Command Create(CliContext context)
    {
        var curvature = new CurvatureCommandOptions();
        var vector = CliOptions.InputFile("--vector", "Input .npy: a vector [P] or K columns [P, K] in parameters_to_vector order.");
        var output = CliOptions.OutputFile("--out", "Output .npy with the product, same shape as --vector (written atomically).");
        var command = new Command("matvec", "Multiply a curvature matrix (Hessian, GGN, Fisher, KFAC, EKFAC) with vectors.");
        curvature.AddTo(command);
        command.Add(vector);
        command.Add(output);
        command.SetAction(parsed =>
        {
            string outPath = parsed.GetRequiredValue(output);
            if (curvature.Files.GetDtype(parsed) == DType.Float32) Run<float>(curvature, parsed, parsed.GetRequiredValue(vector), outPath);
            else Run<double>(curvature, parsed, parsed.GetRequiredValue(vector), outPath);
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run<T>(CurvatureCommandOptions curvature, ParseResult parsed, string vectorPath, string outPath) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, op) = curvature.Build<T>(parsed);
        var v = CurvatureCommandOptions.ReadVectors<T>(vectorPath, "--vector", op.Columns);
        var result = v.Rank == 1 ? op.MatVec(v) : op.MatMat(v);
        Results.EnsureFinite(result, "product", outPath);
        Processes.WriteOutputs(() => Npy.Write(outPath, result));
    }
}

using System.Globalization;
using CurvNative.Interop;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary><c>curvnative grad</c> and <c>curvnative loss</c> against PyTorch's float64 values for the model fixtures.</summary>
public class GradAndLossCommandTests
{
    public static readonly string[] Models = ["mlp", "cnn", "mlp_mse", "mlp_bce"];

    /// <summary>Every fixture model with batch sizes 1, 4, 5 and the default (0 = option omitted).</summary>
    public static TheoryData<string, int> ModelsAndBatchSizes()
    {
        var data = new TheoryData<string, int>();
        foreach (var m in Models)
            foreach (var b in new[] { 0, 1, 4, 5 }) data.Add(m, b);
        return data;
    }

    private static string[] With(string[] args, int batchSize, params string[] more)
        => [.. args, .. (batchSize > 0 ? new[] { "--batch-size", batchSize.ToString(CultureInfo.InvariantCulture) } : []), .. more];

    [Theory]
    [MemberData(nameof(ModelsAndBatchSizes))]
    public void GradMatchesPyTorch(string model, int batchSize)
    {
        using var dir = new TempDir();
        var output = dir.File("g.npy");
        var run = Run(With(["grad", .. ModelArgs(model)], batchSize, "--out", output));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Error);
        Assert.Equal("<f8", Npy.ReadHeader(output).Descr);
        var expected = Npy.Read<double>(Model(model, "grad.npy"));
        var actual = Npy.Read<double>(output);
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        double error = RelativeError(actual.Span, expected.Span);
        Assert.True(error < 1e-10, $"{model}, batch size {batchSize}: relative gradient error {error:E2}");
        Assert.Equal(["g.npy"], dir.Entries());
    }

    [Theory]
    [MemberData(nameof(ModelsAndBatchSizes))]
    public void LossMatchesPyTorch(string model, int batchSize)
    {
        var run = Run(With(["loss", .. ModelArgs(model)], batchSize));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Error);
        var text = run.Out.Trim();
        Assert.DoesNotContain('\n', text);
        double loss = double.Parse(text, CultureInfo.InvariantCulture);
        double expected = ExpectedLoss(model);
        Assert.True(Math.Abs(loss - expected) <= 1e-12 * Math.Abs(expected), $"{model}, batch size {batchSize}: loss {text} vs PyTorch {expected:R}");
    }

    [Theory]
    [InlineData("mlp", 0)]
    [InlineData("cnn", 4)]
    [InlineData("mlp_mse", 5)]
    [InlineData("mlp_bce", 1)]
    public void Float32IsCloseToPyTorch(string model, int batchSize)
    {
        using var dir = new TempDir();
        var output = dir.File("g32.npy");
        var grad = Run(With(["grad", .. ModelArgs(model), "--dtype", "float32"], batchSize, "--out", output));
        Assert.True(grad.ExitCode == 0, grad.ToString());
        Assert.Equal("<f4", Npy.ReadHeader(output).Descr);
        var expected = Npy.Read<double>(Model(model, "grad.npy"));
        var actual = Npy.Read<double>(output); // widened from <f4
        double error = RelativeError(actual.Span, expected.Span);
        Assert.True(error < 1e-4, $"{model} float32: relative gradient error {error:E2}");

        var loss = Run(With(["loss", .. ModelArgs(model), "--dtype", "float32"], batchSize));
        Assert.True(loss.ExitCode == 0, loss.ToString());
        double value = double.Parse(loss.Out.Trim(), CultureInfo.InvariantCulture), reference = ExpectedLoss(model);
        Assert.True(Math.Abs(value - reference) <= 1e-4 * Math.Abs(reference), $"{model} float32: loss {value} vs PyTorch {reference}");
    }

    [Fact]
    public void BatchSizeLargerThanTheDataSetIsOneBatch()
    {
        var run = Run(["loss", .. ModelArgs("mlp"), "--batch-size", "1000"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(ExpectedLoss("mlp"), double.Parse(run.Out.Trim(), CultureInfo.InvariantCulture), 12);
    }

    [Fact]
    public void GradOverwritesAnExistingOutputFile()
    {
        using var dir = new TempDir();
        var output = dir.File("g.npy");
        File.WriteAllText(output, "old");
        var run = Run(["grad", .. ModelArgs("mlp_mse"), "--out", output]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(74, Npy.Read<double>(output).Length);
        Assert.Equal(["g.npy"], dir.Entries());
    }
}

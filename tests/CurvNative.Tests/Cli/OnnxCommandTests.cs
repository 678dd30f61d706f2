using System.Globalization;
using CurvNative.Interop;
using CurvNative.Tensors;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;
using static CurvNative.Tests.NN.PyTorchFixtureTests;

namespace CurvNative.Tests.Cli;

/// <summary><c>--model model.onnx</c> wherever model.json is accepted, and <c>--loss</c>/<c>--reduction</c>.</summary>
public class OnnxCommandTests
{
    private static string F(string name, string file) => Fixture("onnx", name, file);

    private static string[] OnnxArgs(string name, string loss) => ["--model", F(name, "model.onnx"), "--data", F(name, "data.safetensors"), "--loss", loss];

    private static string[] SpecArgs(string name) => ["--model", F(name, "model.json"), "--weights", F(name, "weights.safetensors"), "--data", F(name, "data.safetensors")];

    private static double Loss(params string[] args)
    {
        var run = Run(["loss", .. args]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Error);
        return double.Parse(run.Out.Trim(), CultureInfo.InvariantCulture);
    }

    private static Tensor<double> Written(string command, string[] args, params string[] more)
    {
        using var dir = new TempDir();
        var output = dir.File("out.npy");
        var run = Run([command, .. args, .. more, "--out", output]);
        Assert.True(run.ExitCode == 0, run.ToString());
        return Npy.Read<double>(output);
    }

    [Theory]
    [InlineData("mlp", "cross_entropy")]
    [InlineData("cnn", "cross_entropy --reduction sum")]
    [InlineData("mlp_bce", "bce_with_logits")]
    public void LossGradAndMatvecEqualTheModelJsonRoute(string name, string loss)
    {
        var lossArgs = loss.Split(' ');
        string[] onnx = [.. OnnxArgs(name, lossArgs[0]), .. lossArgs[1..]];
        Assert.Equal(Loss(SpecArgs(name)), Loss(onnx));
        var grad = Written("grad", onnx);
        Assert.True(grad.Span.SequenceEqual(Written("grad", SpecArgs(name)).Span), $"{name}: gradients differ");

        using var dir = new TempDir();
        var vector = dir.File("v.npy");
        var v = Tensor<double>.Zeros(grad.Length);
        for (int i = 0; i < v.Length; i++) v.Span[i] = Math.Sin(i + 1);
        Npy.Write(vector, v);
        foreach (var curvature in new[] { "hessian", "ggn", "kfac" })
        {
            var a = Written("matvec", onnx, "--curvature", curvature, "--vector", vector);
            var b = Written("matvec", SpecArgs(name), "--curvature", curvature, "--vector", vector);
            Assert.True(a.Span.SequenceEqual(b.Span), $"{name} {curvature}: the ONNX route differs");
        }
    }

    [Fact]
    public void Float32RunsEqualTheModelJsonRoute()
    {
        string[] f32 = ["--dtype", "float32"];
        Assert.Equal(Loss([.. SpecArgs("cnn"), .. f32]), Loss([.. OnnxArgs("cnn", "cross_entropy"), "--reduction", "sum", .. f32]));
        Assert.NotEqual(Loss(SpecArgs("cnn")), Loss([.. SpecArgs("cnn"), .. f32])); // float32 really ran
    }

    [Fact]
    public void ResidualOnnxModelMatchesPyTorchThroughTheCli()
    {
        var reference = SafetensorsFile.Read(F("resmlp", "reference.safetensors"));
        double expected = reference.GetTensor<double>("loss").Span[0];
        double loss = Loss(OnnxArgs("resmlp", "mse"));
        Assert.True(Math.Abs(loss - expected) <= 1e-13 * expected, $"loss {loss:R} vs PyTorch {expected:R}");
        var grad = Written("grad", OnnxArgs("resmlp", "mse"), "--batch-size", "4");
        Assert.True(RelativeError(grad.Span, reference.GetTensor<double>("grad").Span) < 1e-12);
    }

    [Fact]
    public void ReductionAloneOverridesModelJsonsReduction()
    {
        double mean = Loss(SpecArgs("mlp"));
        double sum = Loss([.. SpecArgs("mlp"), "--reduction", "sum"]);
        Assert.Equal(7 * mean, sum, 12); // the fixture has N = 7
        Assert.Equal(sum, Loss([.. SpecArgs("mlp"), "--loss", "cross_entropy", "--reduction", "sum"]));
    }

    [Fact]
    public void LossOverrideThatDoesNotFitTheDataIsBadInput()
    {
        var run = Run(["loss", .. SpecArgs("mlp"), "--loss", "mse"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("key 'y'", run.Error);
    }

    [Fact]
    public void OnnxWithoutLossIsAUsageError()
    {
        var run = Run(["loss", "--model", F("mlp", "model.onnx"), "--data", F("mlp", "data.safetensors")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--loss is required with an ONNX model", run.Error);
    }

    [Fact]
    public void ModelJsonWithoutWeightsIsAUsageError()
    {
        var run = Run(["loss", "--model", F("mlp", "model.json"), "--data", F("mlp", "data.safetensors")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--weights is required with a model spec", run.Error);
    }

    [Fact]
    public void AnUnknownLossIsAUsageError()
    {
        var run = Run(["loss", .. OnnxArgs("mlp", "hinge")]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("hinge", run.Error);
    }

    [Fact]
    public void AnUnsupportedOpIsBadInputNamingTheNode()
    {
        var run = Run(["loss", "--model", F("unsupported", "model.onnx"), "--data", F("mlp", "data.safetensors"), "--loss", "mse"]);
        Assert.Equal(1, run.ExitCode);
        Assert.Single(run.ErrorLines);
        Assert.Contains("node '/1/LeakyRelu' (LeakyRelu) is not supported: op type 'LeakyRelu'", run.Error);
    }

    [Fact]
    public void WeightsGivenWithOnnxReplaceTheInitializers()
    {
        using var dir = new TempDir();
        var scaled = dir.File("scaled.safetensors");
        var weights = SafetensorsFile.Read(F("mlp", "weights.safetensors"));
        var tensors = new Dictionary<string, object>();
        foreach (var key in weights.Names)
        {
            var t = weights.GetTensor<double>(key);
            for (int i = 0; i < t.Length; i++) t.Span[i] *= 1.5;
            tensors[key] = t;
        }
        SafetensorsFile.Write(scaled, tensors);
        double original = Loss(OnnxArgs("mlp", "cross_entropy"));
        double replaced = Loss([.. OnnxArgs("mlp", "cross_entropy"), "--weights", scaled]);
        Assert.NotEqual(original, replaced);
        Assert.Equal(Loss(["--model", F("mlp", "model.json"), "--weights", scaled, "--data", F("mlp", "data.safetensors")]), replaced);
        // Weights of another model are named as missing.
        var run = Run(["loss", .. OnnxArgs("mlp", "cross_entropy"), "--weights", F("cnn", "weights.safetensors")]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("the model has no parameter of this name", run.Error);
    }
}

using CurvNative.Interop;
using CurvNative.Tests.Interop;
using CurvNative.Tests.Taylor;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary><c>curvnative pde</c> against the PyTorch fixtures, and its bad-input handling.</summary>
public class PdeCommandTests
{
    private static string F(string activation, string name) => PyTorchPdeFixtureTests.File(activation, name);

    private static string[] Args(string activation, string operatorName, string output, params string[] more) =>
        ["pde", "--model", F(activation, "model.json"), "--weights", F(activation, "weights.safetensors"), "--points", F(activation, "points.npy"),
         "--operator", operatorName, "--out", output, .. more];

    [Theory]
    [InlineData("tanh", "laplacian", "laplacian.npy", "collapsed")]
    [InlineData("gelu", "laplacian", "laplacian.npy", "standard")]
    [InlineData("sin", "laplacian", "laplacian.npy", "nested")]
    [InlineData("softplus", "weighted-laplacian", "weighted.npy", "collapsed")]
    [InlineData("cos", "biharmonic", "biharmonic.npy", "collapsed")]
    [InlineData("exp", "biharmonic", "biharmonic.npy", "nested")]
    public void MatchesPyTorch(string activation, string operatorName, string expected, string mode)
    {
        using var dir = new TempDir();
        var output = dir.File("u.npy");
        string[] extra = operatorName == "weighted-laplacian" ? ["--coefficients", F(activation, "coefficients.npy")] : [];
        var run = Run(Args(activation, operatorName, output, [.. extra, "--mode", mode, "--batch-size", "4"]));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Error);
        Assert.Equal("<f8", Npy.ReadHeader(output).Descr);
        var reference = Npy.Read<double>(F(activation, expected));
        var actual = Npy.Read<double>(output);
        Assert.Equal(reference.ShapeArray, actual.ShapeArray);
        Assert.True(RelativeError(actual.Span, reference.Span) < 1e-10, $"relative error {RelativeError(actual.Span, reference.Span):E2}");
        Assert.Equal(["u.npy"], dir.Entries());
    }

    [Fact]
    public void StochasticFloat32RunsAndIsSeeded()
    {
        using var dir = new TempDir();
        string a = dir.File("a.npy"), b = dir.File("b.npy");
        Assert.Equal(0, Run(Args("tanh", "laplacian", a, "--estimator", "stochastic", "--directions", "8", "--seed", "3", "--dtype", "float32")).ExitCode);
        Assert.Equal(0, Run(Args("tanh", "laplacian", b, "--estimator", "stochastic", "--directions", "8", "--seed", "3", "--dtype", "float32", "--batch-size", "1")).ExitCode);
        Assert.Equal("<f4", Npy.ReadHeader(a).Descr);
        // Same directions whatever the chunking (per-point streams); only float32 GEMM rounding differs.
        var (x, y) = (Npy.Read<float>(a).ToArray(), Npy.Read<float>(b).ToArray());
        Assert.Equal(x.Length, y.Length);
        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) <= 1e-4f * Math.Max(1, Math.Abs(x[i])), $"point {i}: {x[i]} vs {y[i]}");
    }

    /// <summary>Each bad input: non-zero exit, one stderr line naming the file and the expectation, no output file.</summary>
    [Fact]
    public void BadInputsFailCleanly()
    {
        using var dir = new TempDir();
        var output = dir.File("u.npy");
        var wide = dir.File("wide.npy");
        Npy.Write(wide, CurvNative.Tensors.Tensor<double>.Zeros(4, 5));
        var notSquare = dir.File("c23.npy");
        Npy.Write(notSquare, CurvNative.Tensors.Tensor<double>.Zeros(2, 3));
        var asymmetric = dir.File("asym.npy");
        Npy.Write(asymmetric, CurvNative.Tensors.Tensor<double>.FromArray([1, 2, 0, 0, 1, 0, 0, 0, 1], 3, 3));
        var vectorModel = dir.File("vector.json");
        System.IO.File.WriteAllText(vectorModel, """{"input_shape": [3], "layers": [{"type": "linear", "name": "0", "in_features": 3, "out_features": 2}]}""");
        var vectorWeights = dir.File("vector.safetensors");
        ModelFiles<double>.SaveWeights(new CurvNative.NN.Modules.Sequential<double>(new CurvNative.NN.Modules.Linear<double>("0", 3, 2)), vectorWeights);

        var cases = new (string[] Args, string[] Expect)[]
        {
            (["pde", "--model", F("tanh", "model.json"), "--weights", F("tanh", "weights.safetensors"), "--points", wide, "--operator", "laplacian", "--out", output], [wide, "[N, 3]"]),
            (Args("tanh", "weighted-laplacian", output, "--coefficients", notSquare), [notSquare, "[3, 3]"]),
            (Args("tanh", "weighted-laplacian", output, "--coefficients", asymmetric), [asymmetric, "symmetric"]),
            (["pde", "--model", vectorModel, "--weights", vectorWeights, "--points", F("tanh", "points.npy"), "--operator", "laplacian", "--out", output], [vectorModel, "one output"]),
            (Args("tanh", "weighted-laplacian", output), ["--coefficients"]),
            (Args("tanh", "laplacian", output, "--estimator", "stochastic"), ["--directions"]),
            (Args("tanh", "curl", output), ["--operator", "laplacian"]),
        };
        foreach (var (args, expect) in cases)
        {
            var run = Run(args);
            Assert.True(run.ExitCode != 0, run.ToString());
            Assert.Single(run.ErrorLines);
            foreach (var e in expect) Assert.Contains(e, run.Error);
            Assert.False(System.IO.File.Exists(output), $"{run}: an output file was written");
        }
    }
}

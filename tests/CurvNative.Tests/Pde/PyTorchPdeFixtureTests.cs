using CurvNative.Interop;
using CurvNative.Pde;
using CurvNative.Tensors;
using CurvNative.Tests.NN;
using Xunit;
using static CurvNative.Tests.Taylor.PdeTestNets;

namespace CurvNative.Tests.Taylor;

/// <summary>Every mode against PyTorch's nested double backward (tools/make_pde_fixtures.py), one network per activation.</summary>
public class PyTorchPdeFixtureTests
{
    public static TheoryData<string> Cases() => new(Directory.GetDirectories(PyTorchFixtureTests.Fixture("pde")).Select(Path.GetFileName).Order()!);

    internal static string File(string activation, string name) => PyTorchFixtureTests.Fixture("pde", activation, name);

    [Theory]
    [MemberData(nameof(Cases))]
    public void OperatorsMatchPyTorch(string activation)
    {
        Assert.True(Directory.GetDirectories(PyTorchFixtureTests.Fixture("pde")).Length >= 7, "one fixture per activation (tanh, sigmoid, gelu, softplus, sin, cos, exp)");
        var spec = ModelSpec.Load(File(activation, "model.json"));
        var model = spec.BuildModel<double>();
        ModelFiles<double>.LoadWeights(model, File(activation, "weights.safetensors"));
        var x = Npy.Read<double>(File(activation, "points.npy"));
        int d = x.Shape[1];
        var cases = new (PdeOperator<double> Op, string Expected)[]
        {
            (PdeOperator<double>.Laplacian(d), "laplacian.npy"),
            (PdeOperator<double>.WeightedLaplacian(Npy.Read<double>(File(activation, "coefficients.npy"))), "weighted.npy"),
            (PdeOperator<double>.Biharmonic(d), "biharmonic.npy"),
        };
        foreach (var (op, expected) in cases)
            foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard, TaylorMode.Nested })
                AssertRelative(Npy.Read<double>(File(activation, expected)), PdeOps.Evaluate(model, x, op, mode), 1e-10, $"{activation} {op.Kind} {mode}");
    }
}

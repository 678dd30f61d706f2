using CurvNative.Autodiff;
using CurvNative.Pde;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Taylor.PdeTestNets;

namespace CurvNative.Tests.Taylor;

/// <summary>Collapsed = standard = nested autodiff for the exact operators, and the propagated-vector counts.</summary>
public class TaylorModeTests
{
    public static TheoryData<string, int, int> LaplacianCases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var act in new[] { "tanh", "sigmoid", "sin", "gelu" })
            foreach (var d in new[] { 1, 2, 5, 17 })
                foreach (var n in new[] { 1, 33 }) data.Add(act, d, n);
        return data;
    }

    [Theory]
    [MemberData(nameof(LaplacianCases))]
    public void LaplacianModesAgree(string activation, int d, int n)
    {
        var model = Mlp<double>(d, activation, seed: d);
        var x = Points<double>(n, d, seed: 7 + d);
        var op = PdeOperator<double>.Laplacian(d);
        var (nested, standard, collapsed) = ModesAgree(model, x, op, 1e-12);
        AssertRelative(nested.Gradient!.Value, collapsed.Gradient!.Value, 1e-12, "input gradient");
        AssertRelative(nested.Output.Value, collapsed.Output.Value, 1e-14, "u");
        Assert.Equal(2 + d, collapsed.PropagatedVectors);
        Assert.Equal(1 + 2 * d, standard.PropagatedVectors);
    }

    [Theory]
    [InlineData("tanh", 1, 1)]
    [InlineData("tanh", 2, 33)]
    [InlineData("sigmoid", 5, 33)]
    [InlineData("sin", 2, 1)]
    [InlineData("gelu", 5, 1)]
    [InlineData("gelu", 2, 33)]
    public void BiharmonicModesAgree(string activation, int d, int n)
    {
        var model = Mlp<double>(d, activation, hidden: 6, seed: 3 + d);
        var x = Points<double>(n, d, seed: 11);
        var op = PdeOperator<double>.Biharmonic(d);
        var (nested, standard, collapsed) = ModesAgree(model, x, op, 1e-11);
        int r = d * d;
        // Collapsed shares the first order: value, D first-order vectors (along e_i), R second and third, one collapsed.
        Assert.Equal(2 + d + 2 * r, collapsed.PropagatedVectors);
        Assert.Equal(1 + 4 * r, standard.PropagatedVectors);
        // The shared first order still yields the gradient and every directional derivative grad u . v_r.
        AssertRelative(nested.Gradient!.Value, collapsed.Gradient!.Value, 1e-12, "input gradient");
        AssertRelative(standard.DirectionalDerivatives!.Value, collapsed.DirectionalDerivatives!.Value, 1e-13, "directional derivatives");
    }
}

using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Autodiff.Taylor;
using CurvNative.Native;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Native;

/// <summary>The fused collapsed Taylor kernel against the managed (differentiable) rule at sizes 0, 1, 17 and 1025.</summary>
public class NativeTaylorTests
{
    public static TheoryData<string, int, bool, bool> Cases()
    {
        var data = new TheoryData<string, int, bool, bool>();
        foreach (var act in new[] { "tanh", "sigmoid", "sin", "cos", "exp" })
            foreach (var n in new[] { 0, 1, 17, 1025 })
            {
                data.Add(act, n, true, false);
                data.Add(act, n, false, true);
            }
        return data;
    }

    private static Var<T> Apply<T>(string act, Var<T> z) where T : unmanaged, IFloatingPointIeee754<T> => act switch
    {
        "tanh" => F.Tanh(z),
        "sigmoid" => F.Sigmoid(z),
        "sin" => F.Sin(z),
        "cos" => F.Cos(z),
        _ => F.Exp(z),
    };

    private static Tensor<T> Random<T>(Random rng, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = T.CreateTruncating(2 * rng.NextDouble() - 1);
        return t;
    }

    private static void Check<T>(string act, int n, bool withC2, bool weighted, double tol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int r = 3;
        var rng = new Random(n + 7);
        var z = Var<T>.Leaf(Random<T>(rng, n));
        var y = Apply(act, z);
        T[] weights = weighted ? [T.CreateTruncating(0.5), -T.One, T.CreateTruncating(2)] : [T.One, T.One, T.One];
        var spec = new JetSpec<T>(2, r, weights);
        var jet = new Jet<T>(spec, z, [Var<T>.Constant(Random<T>(rng, r, n)), withC2 ? Var<T>.Constant(Random<T>(rng, n)) : null]);
        Jet<T> managed, fused;
        using (GradMode.Enable()) managed = y.Creator!.Primitive.Taylor(y.Creator, [jet]);
        using (GradMode.Disable()) fused = y.Creator!.Primitive.Taylor(y.Creator, [jet]);
        Assert.Same(y, fused.Value);
        for (int k = 1; k <= 2; k++)
        {
            var (m, f) = (managed[k]!.Value, fused[k]!.Value);
            Assert.Equal(m.ShapeArray, f.ShapeArray);
            for (int i = 0; i < m.Length; i++)
            {
                double a = double.CreateTruncating(m.Span[i]), b = double.CreateTruncating(f.Span[i]);
                Assert.True(Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(a)), $"{act} n={n} coefficient {k}[{i}]: managed {a} vs fused {b}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedKernelMatchesManagedRuleFloat64(string act, int n, bool withC2, bool weighted) => Check<double>(act, n, withC2, weighted, 1e-14);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedKernelMatchesManagedRuleFloat32(string act, int n, bool withC2, bool weighted) => Check<float>(act, n, withC2, weighted, 1e-5);

    [Fact]
    public void KernelComputesTheValueAndRejectsBadInput()
    {
        double[] z = [0.3, -1.2], dirs = [1, 2, 3, 4], dOut = new double[4], c2Out = new double[2], y = new double[2];
        NativeKernels.Taylor2Activation<double>(TaylorActivation.Tanh, z, dirs, default, default, y, dOut, c2Out);
        Assert.Equal(Math.Tanh(0.3), y[0], 15);
        Assert.Equal(Math.Tanh(-1.2), y[1], 15);
        // f'' sum_r dirs^2 with f'' = -2 tanh (1 - tanh^2).
        double t = Math.Tanh(0.3);
        Assert.Equal(-2 * t * (1 - t * t) * (1 + 9), c2Out[0], 13);
        var e = Assert.Throws<NativeKernelException>(() => NativeKernels.Taylor2Activation<double>((TaylorActivation)9, z, dirs, default, default, y, dOut, c2Out));
        Assert.Contains("invalid argument", e.Message);
        Assert.Throws<ArgumentException>(() => NativeKernels.Taylor2Activation<double>(TaylorActivation.Tanh, z, [1, 2, 3], default, default, y, dOut, c2Out));
    }
}

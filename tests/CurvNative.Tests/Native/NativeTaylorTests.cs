using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Autodiff.Taylor;
using CurvNative.Native;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Native;

/// <summary>
/// The fused collapsed Taylor node (one native pass forward, one backward) against the managed rule
/// (<see cref="TaylorRules.Elementwise{T}"/> with the activation's derivatives written out here) at sizes 0, 1, 17 and
/// 1025, float32 and float64: the coefficients, the gradients with respect to z and the packed input jet (native
/// backward and the recorded, twice-differentiable one) and the JVP.
/// </summary>
public class NativeTaylorTests
{
    private const int R = 3;

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

    /// <summary>f' and f'' written out independently of the engine's rules.</summary>
    private static Var<T>[] Derivatives<T>(string act, Var<T> z, Var<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var one = Var<T>.Scalar(T.One);
        switch (act)
        {
            case "tanh": { var d1 = one - y * y; return [d1, F.Scale(y * d1, -T.CreateTruncating(2))]; }
            case "sigmoid": { var d1 = y * (one - y); return [d1, d1 * (one - F.Scale(y, T.CreateTruncating(2)))]; }
            case "sin": return [F.Cos(z), -F.Sin(z)];
            case "cos": return [-F.Sin(z), -F.Cos(z)];
            default: return [y, y];
        }
    }

    private static Tensor<T> Random<T>(Random rng, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = Tensor<T>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = T.CreateTruncating(2 * rng.NextDouble() - 1);
        return t;
    }

    private static void Close<T>(Tensor<T> expected, Tensor<T> actual, double tol, string what) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.ShapeArray, actual.ShapeArray);
        for (int i = 0; i < expected.Length; i++)
        {
            double a = double.CreateTruncating(expected.Span[i]), b = double.CreateTruncating(actual.Span[i]);
            Assert.True(Math.Abs(a - b) <= tol * Math.Max(1, Math.Abs(a)), $"{what}[{i}]: managed {a} vs fused {b}");
        }
    }

    private sealed record Setup<T>(Var<T> Z, Var<T> P, Jet<T> Fused, Jet<T> Managed, Tensor<T> G1, Tensor<T> GTop) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>z, a packed input jet P (leaves), the fused and the managed output jets, and random cotangents.</summary>
    private static Setup<T> Build<T>(string act, int n, bool withC2, bool weighted) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(n + 7);
        T[] weights = weighted ? [T.CreateTruncating(0.5), -T.One, T.CreateTruncating(2)] : [T.One, T.One, T.One];
        var spec = new JetSpec<T>(2, R, weights);
        var z = Var<T>.Leaf(Random<T>(rng, n));
        var p = Var<T>.Leaf(Random<T>(rng, R + (withC2 ? 1 : 0), n));
        using var recording = GradMode.Enable();
        var y = Apply(act, z);
        var packed = new Jet<T>(spec, z, p, [R, withC2 ? 1 : 0]);
        var fused = y.Creator!.Primitive.Taylor(y.Creator, [packed]);
        Assert.NotNull(fused.Packed); // the fused node, not the managed fallback
        var unpacked = new Jet<T>(spec, z, [F.Rows(p, 0, R), withC2 ? F.Reshape(F.Rows(p, R, 1), n) : null]);
        var managed = TaylorRules.Elementwise(unpacked, y, Derivatives(act, z, y));
        return new Setup<T>(z, p, fused, managed, Random<T>(rng, R, n), Random<T>(rng, n));
    }

    private static Var<T> Functional<T>(Jet<T> jet, Setup<T> s) where T : unmanaged, IFloatingPointIeee754<T>
        => F.Add(F.Sum(F.Mul(jet[1]!, Var<T>.Constant(s.G1))), F.Sum(F.Mul(jet[2]!, Var<T>.Constant(s.GTop))));

    private static void Check<T>(string act, int n, bool withC2, bool weighted, double tol) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = Build<T>(act, n, withC2, weighted);
        Assert.Same(s.Managed.Value, s.Fused.Value);
        for (int k = 1; k <= 2; k++) Close(s.Managed[k]!.Value, s.Fused[k]!.Value, tol, $"{act} n={n} coefficient {k}");

        // Gradients: the native backward (first order) and the recorded one (createGraph) against the managed graph's.
        Var<T>[] expected, native, recorded;
        using (GradMode.Enable())
        {
            expected = Autograd.Grad(Functional(s.Managed, s), [s.Z, s.P]);
            native = Autograd.Grad(Functional(s.Fused, s), [s.Z, s.P]);
            recorded = Autograd.Grad(Functional(s.Fused, s), [s.Z, s.P], createGraph: true);
        }
        for (int i = 0; i < 2; i++)
        {
            Close(expected[i].Value, native[i].Value, tol, $"{act} n={n} native gradient {i}");
            Close(expected[i].Value, recorded[i].Value, tol, $"{act} n={n} recorded gradient {i}");
        }

        // JVP along random tangents of z and P.
        var rng = new Random(n + 11);
        var tz = Var<T>.Constant(Random<T>(rng, n));
        var tp = Var<T>.Constant(Random<T>(rng, s.P.Value.ShapeArray));
        var jm = Autograd.Jvp([s.Managed[1]!, s.Managed[2]!], [s.Z, s.P], [tz, tp]);
        var jf = Autograd.Jvp([s.Fused[1]!, s.Fused[2]!], [s.Z, s.P], [tz, tp]);
        for (int i = 0; i < 2; i++) Close(jm[i].Value, jf[i].Value, tol, $"{act} n={n} jvp {i}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedNodeMatchesManagedRuleFloat64(string act, int n, bool withC2, bool weighted) => Check<double>(act, n, withC2, weighted, 1e-13);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedNodeMatchesManagedRuleFloat32(string act, int n, bool withC2, bool weighted) => Check<float>(act, n, withC2, weighted, 2e-5);

    [Fact]
    public void SecondDerivativeThroughTheFusedNodeMatchesManagedRule()
    {
        // A Hessian-vector product with respect to z through the fused node (reverse over the recorded backward).
        var s = Build<double>("tanh", 17, true, true);
        var v = Var<double>.Constant(Random<double>(new Random(3), 17));
        Tensor<double> Hvp(Jet<double> jet)
        {
            using var recording = GradMode.Enable();
            var g = Autograd.Grad(Functional(jet, s), [s.Z], createGraph: true)[0];
            return Autograd.Grad(F.Sum(F.Mul(g, v)), [s.Z])[0].Value;
        }
        Close(Hvp(s.Managed), Hvp(s.Fused), 1e-12, "hvp");
    }

    [Fact]
    public void KernelComputesTheRuleAndRejectsBadInput()
    {
        double[] z = [0.3, -1.2], y = [Math.Tanh(0.3), Math.Tanh(-1.2)], p = [1, 2, 3, 4], q = new double[6];
        NativeKernels.Taylor2Forward<double>(TaylorActivation.Tanh, 2, false, z, y, p, default, q);
        // f'' sum_r p_r^2 with f'' = -2 tanh (1 - tanh^2).
        double t = Math.Tanh(0.3);
        Assert.Equal((1 - t * t) * 3, q[2], 14);
        Assert.Equal(-2 * t * (1 - t * t) * (1 + 9), q[4], 13);
        var e = Assert.Throws<NativeKernelException>(() => NativeKernels.Taylor2Forward<double>((TaylorActivation)9, 2, false, z, y, p, default, q));
        Assert.Contains("invalid argument", e.Message);
        Assert.Throws<ArgumentException>(() => NativeKernels.Taylor2Forward<double>(TaylorActivation.Tanh, 2, false, z, y, [1, 2, 3], default, q));
        Assert.Throws<ArgumentException>(() => NativeKernels.Taylor2Backward<double>(TaylorActivation.Tanh, 2, false, z, y, p, default, [1, 2], default, default));
    }
}

using CurvNative.Autodiff;
using CurvNative.NN.Modules;
using CurvNative.Pde;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Taylor.PdeTestNets;

namespace CurvNative.Tests.Taylor;

/// <summary>The operators as graph nodes: parameter gradients of a PINN loss, parameter JVPs and per-point Jacobians,
/// against nested autodiff and finite differences.</summary>
public class DifferentiabilityTests
{
    private static Var<double> Source(Tensor<double> x)
    {
        var f = Tensor<double>.Zeros(x.Shape[0]);
        for (int p = 0; p < f.Length; p++) f.Span[p] = Math.Sin(x.Span[p * x.Shape[1]]);
        return Var<double>.Constant(f);
    }

    private static Var<double> Residual(Module<double> model, Tensor<double> x, PdeOperator<double> op, TaylorMode mode)
        => F.Sub(PdeOps.Apply(model, x, op, mode).Values, Source(x));

    private static double Loss(Module<double> model, Tensor<double> x, PdeOperator<double> op, TaylorMode mode)
        => F.Mean(F.Square(Residual(model, x, op, mode))).Value.ToScalar();

    public static TheoryData<PdeOperatorKind> Kinds() => new() { PdeOperatorKind.Laplacian, PdeOperatorKind.WeightedLaplacian, PdeOperatorKind.Biharmonic };

    private static PdeOperator<double> Operator(PdeOperatorKind kind, int d) => kind switch
    {
        PdeOperatorKind.Laplacian => PdeOperator<double>.Laplacian(d),
        PdeOperatorKind.WeightedLaplacian => PdeOperator<double>.WeightedLaplacian(Tensor<double>.FromArray([1, 0.4, 0, 0.4, -0.5, 0.2, 0, 0.2, 2], 3, 3)),
        _ => PdeOperator<double>.Biharmonic(d),
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PinnLossGradientMatchesNestedAndFiniteDifferences(PdeOperatorKind kind)
    {
        int d = 3;
        var model = Mlp<double>(d, "tanh", hidden: 5, seed: 31);
        var x = Points<double>(7, d, seed: 32);
        var op = Operator(kind, d);
        var parameters = model.Parameters().Select(p => p.Var).ToArray();
        Tensor<double>[] Gradient(TaylorMode mode)
            => Autograd.Grad(F.Mean(F.Square(Residual(model, x, op, mode))), parameters).Select(g => g.Value).ToArray();
        var nested = Gradient(TaylorMode.Nested);
        var collapsed = Gradient(TaylorMode.Collapsed);
        var standard = Gradient(TaylorMode.Standard);
        for (int i = 0; i < parameters.Length; i++)
        {
            if (nested[i].ToArray().All(v => v == 0))
            {
                // The output bias does not enter the Laplacian: its gradient is zero in every mode.
                Assert.All(collapsed[i].ToArray().Concat(standard[i].ToArray()), v => Assert.True(Math.Abs(v) < 1e-14));
                continue;
            }
            AssertRelative(nested[i], collapsed[i], 1e-11, $"{parameters[i].Name} collapsed vs nested");
            AssertRelative(nested[i], standard[i], 1e-11, $"{parameters[i].Name} standard vs nested");
        }
        // Central differences on a few entries of every parameter.
        const double h = 1e-5;
        for (int i = 0; i < parameters.Length; i++)
        {
            var value = parameters[i].Value.Span;
            foreach (int e in new[] { 0, value.Length / 2, value.Length - 1 })
            {
                double saved = value[e];
                value[e] = saved + h; double plus = Loss(model, x, op, TaylorMode.Collapsed);
                value[e] = saved - h; double minus = Loss(model, x, op, TaylorMode.Collapsed);
                value[e] = saved;
                double fd = (plus - minus) / (2 * h), g = collapsed[i].Span[e];
                Assert.True(Math.Abs(fd - g) <= 1e-6 * Math.Max(1, Math.Abs(g)), $"{parameters[i].Name}[{e}]: autodiff {g:E8} vs finite difference {fd:E8}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PointJacobianOnePassEqualsCotangentsAndJvps(PdeOperatorKind kind)
    {
        int d = 3, n = 6;
        var model = Mlp<double>(d, "sin", hidden: 5, seed: 41);
        var x = Points<double>(n, d, seed: 42);
        var op = Operator(kind, d);
        var parameters = model.Parameters().Select(p => p.Var).ToArray();
        int p = parameters.Sum(v => v.Length);
        foreach (var mode in new[] { TaylorMode.Collapsed, TaylorMode.Standard, TaylorMode.Nested })
        {
            var r = Residual(model, x, op, mode);
            Assert.True(PointJacobian.IsRowwise(r, parameters), $"{mode}: the one-pass path should apply to an MLP's graph");
            var fast = PointJacobian.Compute(r, parameters);
            var reference = PointJacobian.ComputeByCotangents(r, parameters, chunk: 4);
            Assert.Equal(new[] { n, p }, fast.ShapeArray);
            AssertRelative(reference, fast, 1e-12, $"{kind} {mode} one-pass vs cotangents");
            // A parameter JVP J v equals the forward-mode derivative of the residual along v.
            var rng = new Random(3);
            var tangents = parameters.Select(v => Var<double>.Constant(Points<double>(1, v.Length, rng.Next()).Reshape(v.Value.ShapeArray))).ToArray();
            var jvp = Autograd.Jvp(r, parameters, tangents).Value;
            var flat = tangents.SelectMany(t => t.Value.ToArray()).ToArray();
            var jv = Tensor<double>.Zeros(n);
            for (int row = 0; row < n; row++)
                for (int c = 0; c < p; c++) jv.Span[row] += fast.Span[row * p + c] * flat[c];
            AssertRelative(jvp, jv, 1e-12, $"{kind} {mode} J v vs JVP");
        }
    }

    [Fact]
    public void PointJacobianFallsBackForOtherParameterUses()
    {
        // A parameter used elementwise (a learnable frequency) is not a row-wise product: the cotangent path answers.
        var omega = Var<double>.Leaf(Tensor<double>.FromArray([1.3, 0.7], 2), "omega");
        var x = Points<double>(5, 2, seed: 1);
        Var<double> U(Var<double> v) => F.Sum(F.Sin(F.Mul(v, omega)), [1]);
        var r = PdeOps.Apply(U, x, PdeOperator<double>.Laplacian(2)).Values;
        Assert.False(PointJacobian.IsRowwise(r, [omega]));
        // Delta u = -sum_j omega_j^2 sin(omega_j x_j): d/d omega_j = -2 omega_j sin(.) - omega_j^2 x_j cos(.).
        var j = PointJacobian.Compute(r, [omega]);
        for (int p = 0; p < 5; p++)
            for (int c = 0; c < 2; c++)
            {
                double w = omega.Value.Span[c], xv = x.Span[p * 2 + c];
                double expected = -2 * w * Math.Sin(w * xv) - w * w * xv * Math.Cos(w * xv);
                Assert.True(Math.Abs(j.Span[p * 2 + c] - expected) <= 1e-12, $"J[{p},{c}] = {j.Span[p * 2 + c]} vs {expected}");
            }
    }
}

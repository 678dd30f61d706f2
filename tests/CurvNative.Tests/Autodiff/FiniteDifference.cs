using CurvNative.Autodiff;
using CurvNative.Tensors;
using Xunit;

namespace CurvNative.Tests.Autodiff;

/// <summary>
/// Checks a differentiable function against central finite differences in float64: its VJP and
/// JVP (directional derivatives along random directions), the adjoint identity between them, and
/// the second derivative by reverse-over-reverse and forward-over-reverse against a finite
/// difference of the gradient.
/// </summary>
public static class FiniteDifference
{
    public delegate Var<double> Function(Var<double>[] inputs);

    public static Tensor<double> Random(Random rng, int[] shape, double lo = -1, double hi = 1)
    {
        var t = Tensor<double>.Zeros(shape);
        for (int i = 0; i < t.Length; i++) t.Span[i] = lo + (hi - lo) * rng.NextDouble();
        return t;
    }

    public static double Dot(Tensor<double> a, Tensor<double> b)
    {
        Assert.Equal(a.Length, b.Length);
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a.Span[i] * b.Span[i];
        return s;
    }

    private static double Norm(Tensor<double> a) => Math.Sqrt(Dot(a, a));

    private static Tensor<double> Axpy(Tensor<double> x, double h, Tensor<double> v)
    {
        var r = x.Clone();
        for (int i = 0; i < r.Length; i++) r.Span[i] += h * v.Span[i];
        return r;
    }

    internal static Var<double>[] Leaves(IEnumerable<Tensor<double>> xs) => xs.Select(x => Var<double>.Leaf(x)).ToArray();

    public static void AssertClose(Tensor<double> expected, Tensor<double> actual, double rtol, string what)
    {
        Shape.CheckEqual(expected.Shape, actual.Shape, what);
        double diff = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            diff = Math.Max(diff, Math.Abs(expected.Span[i] - actual.Span[i]));
            scale = Math.Max(scale, Math.Abs(expected.Span[i]));
        }
        Assert.True(diff <= rtol * Math.Max(scale, 1e-3), $"{what}: max abs difference {diff:E3} exceeds {rtol:E1} x scale {scale:E3}");
        Assert.False(double.IsNaN(diff), $"{what}: NaN");
    }

    /// <summary>Runs every check; inputs are produced by <paramref name="makeInputs"/> from the seed.</summary>
    public static void Check(Function f, Func<Random, Tensor<double>[]> makeInputs, int seed, bool secondOrder = true, double h = 1e-5, double rtol = 1e-6)
    {
        var rng = new Random(seed);
        var x = makeInputs(rng);
        var v = x.Select(t => Random(rng, t.ShapeArray)).ToArray();
        var leaves = Leaves(x);
        var y = f(leaves);
        var u = Random(rng, y.Value.ShapeArray);

        // Forward value is deterministic and finite.
        Assert.True(y.Value.AllFinite(), "forward value is not finite");

        // VJP against a finite difference of s(x) = <f(x), u> along v.
        var grads = Autograd.Grad(y, leaves, Var<double>.Constant(u));
        double directional = grads.Select((g, i) => Dot(g.Value, v[i])).Sum();
        double S(double step) => Dot(f(Leaves(x.Select((t, i) => Axpy(t, step, v[i])))).Value, u);
        double fd = (S(h) - S(-h)) / (2 * h);
        Assert.True(Math.Abs(directional - fd) <= rtol * Math.Max(1, Math.Abs(fd)) * 10, $"VJP {directional} vs finite difference {fd}");

        // JVP against a finite difference of f along v, and the adjoint identity <Jv, u> = <v, J^T u>.
        var jv = Autograd.Jvp(y, leaves, v.Select(Var<double>.Constant).ToArray()).Value;
        var plus = f(Leaves(x.Select((t, i) => Axpy(t, h, v[i])))).Value;
        var minus = f(Leaves(x.Select((t, i) => Axpy(t, -h, v[i])))).Value;
        var fdJv = Tensor<double>.Zeros(plus.ShapeArray);
        for (int i = 0; i < fdJv.Length; i++) fdJv.Span[i] = (plus.Span[i] - minus.Span[i]) / (2 * h);
        AssertClose(fdJv, jv, rtol * 10, "JVP vs finite difference");
        double adj = Dot(jv, u);
        Assert.True(Math.Abs(adj - directional) <= 1e-10 * Math.Max(1, Math.Abs(adj)), $"adjoint identity: <Jv,u>={adj} but <v,J^T u>={directional}");

        if (!secondOrder) return;

        // Second order: d/dx <grad s(x), v> (reverse-over-reverse) and the JVP of the gradient along v
        // (forward-over-reverse) both equal the finite difference of the gradient along v.
        var g1 = Autograd.Grad(y, leaves, Var<double>.Constant(u), createGraph: true);
        Var<double> gv = F.Sum(F.Mul(g1[0], Var<double>.Constant(v[0])));
        for (int i = 1; i < g1.Length; i++) gv = F.Add(gv, F.Sum(F.Mul(g1[i], Var<double>.Constant(v[i]))));
        var hvpRR = Autograd.Grad(gv, leaves);
        var hvpFR = Autograd.Jvp(g1, leaves, v.Select(Var<double>.Constant).ToArray());
        Tensor<double>[] GradAt(double step)
        {
            var l = Leaves(x.Select((t, i) => Axpy(t, step, v[i])));
            return Autograd.Grad(f(l), l, Var<double>.Constant(u)).Select(g => g.Value).ToArray();
        }
        var gp = GradAt(h); var gm = GradAt(-h);
        for (int i = 0; i < x.Length; i++)
        {
            var fdH = Tensor<double>.Zeros(x[i].ShapeArray);
            for (int j = 0; j < fdH.Length; j++) fdH.Span[j] = (gp[i].Span[j] - gm[i].Span[j]) / (2 * h);
            AssertClose(fdH, hvpRR[i].Value, rtol * 10, $"HVP (reverse-over-reverse) input {i}");
            AssertClose(fdH, hvpFR[i].Value, rtol * 10, $"HVP (forward-over-reverse) input {i}");
        }
    }
}

using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.Pde;

/// <summary>
/// The reference mode: directional derivatives by nested first-order reverse mode. With g = grad_x sum_n u_n (one
/// backward pass, recorded), d_v u = g . v and each further order is one more recorded backward pass of the previous
/// directional derivative, d_v^(k+1) u = grad_x(sum_n d_v^k u_n) . v (rows are independent points, so summing over
/// points before differentiating is exact). The exact biharmonic is nested as Delta(Delta u).
/// </summary>
internal static class Nested
{
    public static (Var<T> Values, Var<T> Gradient) Apply<T>(Var<T> u, Var<T> x, PdeOperator<T> op, Tensor<T> directions, T[] weights)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gradient = Grad(u, x);
        if (op.Kind == PdeOperatorKind.Biharmonic && op.Estimate is null)
        {
            var laplace = PdeOperator<T>.Laplacian(op.InputDimension);
            var (unit, ones) = laplace.Directions(0, u.Shape[0]);
            var lap = WeightedSum(gradient, x, unit, ones, 2);
            return (WeightedSum(Grad(lap, x), x, unit, ones, 2), gradient);
        }
        return (WeightedSum(gradient, x, directions, weights, op.DerivativeOrder), gradient);
    }

    /// <summary>sum_r w_r d^k_{v_r} u given g = grad_x sum u, for directions [R, N, D].</summary>
    private static Var<T> WeightedSum<T>(Var<T> gradient, Var<T> x, Tensor<T> directions, T[] weights, int order) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = directions.Shape[0];
        Var<T>? total = null;
        for (int c = 0; c < r; c++)
        {
            var v = Var<T>.Constant(directions.Slice0(c, 1).Reshape(directions.Shape[1], directions.Shape[2]));
            var dk = Along(gradient, v);
            for (int k = 2; k <= order; k++) dk = Along(Grad(dk, x), v);
            var term = weights[c] == T.One ? dk : F.Scale(dk, weights[c]);
            total = total is null ? term : F.Add(total, term);
        }
        return total!;
    }

    /// <summary>g . v per point: [N, D] x [N, D] -> [N].</summary>
    private static Var<T> Along<T>(Var<T> g, Var<T> v) where T : unmanaged, IFloatingPointIeee754<T> => F.Sum(F.Mul(g, v), [1]);

    /// <summary>grad_x sum_n y_n, recorded (so it can be differentiated again).</summary>
    private static Var<T> Grad<T>(Var<T> y, Var<T> x) where T : unmanaged, IFloatingPointIeee754<T>
        => Autograd.Grad(F.Sum(y), [x], createGraph: true)[0];
}

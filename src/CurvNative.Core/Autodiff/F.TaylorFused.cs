using System.Numerics;
using CurvNative.Autodiff.Taylor;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

public static partial class F
{
    /// <summary>
    /// The collapsed second-order Taylor rule of y = f(z) as one graph node: from the packed input jet
    /// P = [z_1 (R items); c_2 (one item, when present)] to Q = [f'(z) z_1; f'(z) c_2 + f''(z) sum_r w_r z_{1,r}^2],
    /// forward and backward each one pass of the native kernel (kernels/src/taylor.cpp) instead of a dozen elementwise
    /// nodes and their adjoints. Inputs of the node: z and P; y = f(z) is the traced forward value, which the kernel
    /// reads for the derivatives. Second and higher derivatives of the node (createGraph) and its JVP are written with
    /// differentiable operations.
    /// </summary>
    private static Jet<T>? FusedTaylor2<T>(UnaryOp<T> op, TaylorActivation activation, Node<T> node, Jet<T> jet) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var spec = jet.Spec;
        if (spec.Order != 2 || !spec.Collapsed || spec.FirstOrderMap is not null || (typeof(T) != typeof(double) && typeof(T) != typeof(float))) return null;
        if (jet.Pack() is not { } packed || packed.Rows[0] != spec.Directions) return null;
        var z = node.Inputs[0];
        bool hasC2 = packed.Rows[1] == 1;
        var fused = new FusedTaylor2Op<T>(op, activation, node.Output, spec.Directions, hasC2, spec.UnitWeights ? null : spec.CollapseWeights);
        var q = Tensor<T>.Uninitialized([spec.Directions + 1, .. z.Value.ShapeArray]);
        NativeKernels.Taylor2Forward<T>(activation, spec.Directions, hasC2, z.Value.Span, node.Output.Value.Span, packed.Stack.Value.Span,
            fused.Weights, q.Span);
        return new Jet<T>(spec, node.Output, Var<T>.Record(fused, q, z, packed.Stack), [spec.Directions, 1]);
    }

    private sealed class FusedTaylor2Op<T>(UnaryOp<T> op, TaylorActivation activation, Var<T> y, int r, bool hasC2, T[]? weights)
        : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => $"{op.Name}Taylor2";

        public ReadOnlySpan<T> Weights => weights;

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            if (GradMode.IsEnabled) return VjpRecorded(node, g, needs);
            var (dz, dp) = Backward(node, g.Value, needs);
            return [dz is null ? null : Const(dz), dp is null ? null : Const(dp)];
        }

        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
        {
            int k = g.Shape[0];
            var z = node.Inputs[0].Value; var p = node.Inputs[1].Value;
            var dz = needs[0] ? Tensor<T>.Uninitialized([k, .. z.ShapeArray]) : null;
            var dp = needs[1] ? Tensor<T>.Uninitialized([k, .. p.ShapeArray]) : null;
            for (int c = 0; c < k; c++)
                NativeKernels.Taylor2Backward<T>(activation, r, hasC2, z.Span, y.Value.Span, p.Span, weights, Stacked.Item(g, c).Span,
                    dz is null ? default : dz.Span.Slice(c * z.Length, z.Length), dp is null ? default : dp.Span.Slice(c * p.Length, p.Length));
            return [dz, dp];
        }

        private (Tensor<T>? Dz, Tensor<T>? Dp) Backward(Node<T> node, Tensor<T> g, bool[] needs)
        {
            var z = node.Inputs[0].Value; var p = node.Inputs[1].Value;
            var dz = needs[0] ? Tensor<T>.Uninitialized(z.ShapeArray) : null;
            var dp = needs[1] ? Tensor<T>.Uninitialized(p.ShapeArray) : null;
            NativeKernels.Taylor2Backward<T>(activation, r, hasC2, z.Span, y.Value.Span, p.Span, weights, g.Span,
                dz is null ? default : dz.Span, dp is null ? default : dp.Span);
            return (dz, dp);
        }

        /// <summary>f', f'', f''' at z as differentiable expressions (y is the traced f(z)).</summary>
        private (Var<T> F1, Var<T> F2, Var<T> F3) Derivatives(Var<T> z)
        {
            var d = op.Derivatives(z, y, 3);
            return (d[0]!, d[1]!, d[2]!);
        }

        /// <summary>The input jet's parts: z_1 [R, ...], c_2 (value shape, or null), w z_1 and S = sum_r w_r z_{1,r}^2.</summary>
        private (Var<T> P1, Var<T>? C2, Var<T> WP1, Var<T> S) Parts(Node<T> node)
        {
            var z = node.Inputs[0]; var p = node.Inputs[1];
            var p1 = Rows(p, 0, r);
            var c2 = hasC2 ? Reshape(Rows(p, r, 1), z.Value.ShapeArray) : null;
            var wp1 = p1;
            if (weights is not null)
            {
                var shape = new int[p1.Rank];
                Array.Fill(shape, 1);
                shape[0] = r;
                wp1 = Mul(p1, Const(Tensor<T>.FromArray((T[])weights.Clone(), shape)));
            }
            return (p1, c2, wp1, Sum(Mul(wp1, p1), [0]));
        }

        // dp_r = f' g_r + 2 w_r f'' p_r g_R, dp_R = f' g_R, dz = f'' (sum_r g_r p_r + g_R c_2) + f''' g_R S.
        private Var<T>?[] VjpRecorded(Node<T> node, Var<T> g, bool[] needs)
        {
            var z = node.Inputs[0];
            var shape = z.Value.ShapeArray;
            var (f1, f2, f3) = Derivatives(z);
            var (p1, c2, wp1, s) = Parts(node);
            var g1 = Rows(g, 0, r);
            var gTop = Reshape(Rows(g, r, 1), shape);
            Var<T>? dz = null, dp = null;
            if (needs[1])
            {
                var dp1 = Add(Mul(g1, f1), Mul(Scale(wp1, T.CreateTruncating(2)), Mul(f2, gTop)));
                dp = hasC2 ? ConcatRows([dp1, Reshape(Mul(f1, gTop), [1, .. shape])]) : dp1;
            }
            if (needs[0])
            {
                var gp = Sum(Mul(g1, p1), [0]);
                if (c2 is not null) gp = Add(gp, Mul(gTop, c2));
                dz = Add(Mul(f2, gp), Mul(f3, Mul(gTop, s)));
            }
            return [dz, dp];
        }

        // tq_r = f' tp_r + f'' tz p_r; tq_R = f' tc_2 + f'' tz c_2 + 2 f'' sum_r w_r p_r tp_r + f''' tz S.
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var z = node.Inputs[0];
            var shape = z.Value.ShapeArray;
            var (f1, f2, f3) = Derivatives(z);
            var (p1, c2, wp1, s) = Parts(node);
            Var<T>? top = null, rows = null;
            if (t[1] is { } tp)
            {
                var tp1 = Rows(tp, 0, r);
                rows = Mul(tp1, f1);
                top = Mul(Scale(f2, T.CreateTruncating(2)), Sum(Mul(wp1, tp1), [0]));
                if (hasC2) top = Add(top, Mul(f1, Reshape(Rows(tp, r, 1), shape)));
            }
            if (t[0] is { } tz)
            {
                var f2tz = Mul(f2, tz);
                rows = Sum2(rows, Mul(p1, f2tz));
                var tzTop = Mul(Mul(f3, tz), s);
                if (c2 is not null) tzTop = Add(tzTop, Mul(f2tz, c2));
                top = Sum2(top, tzTop);
            }
            return ConcatRows([rows!, Reshape(top!, [1, .. shape])]);
        }
    }
}

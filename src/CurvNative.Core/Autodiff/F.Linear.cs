using System.Numerics;
using CurvNative.Autodiff.Taylor;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

public static partial class F
{
    /// <summary>
    /// x w^T + b for x [N, in], w [out, in], b [out] (PyTorch's addmm, as nn.Linear uses). One primitive
    /// instead of MatMul + Add: the GEMM accumulates onto rows pre-filled with the bias (beta = 1), which
    /// saves the bias pass, one [N, out] temporary and OpenBLAS's zeroing of C. Without b it is MatMul.
    /// </summary>
    public static Var<T> Linear<T>(Var<T> x, Var<T> w, Var<T>? b = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (b is null) return MatMul(x, w, transB: true);
        if (x.Rank != 2 || w.Rank != 2 || b.Rank != 1 || x.Shape[1] != w.Shape[1] || b.Shape[0] != w.Shape[0])
            throw new ArgumentException($"Linear expects x [N, in], w [out, in] and b [out], got {Shape.Format(x.Shape)}, {Shape.Format(w.Shape)} and {Shape.Format(b.Shape)}.");
        return Var<T>.Record(LinearOp<T>.Instance, TensorOps.Linear(x.Value, w.Value, b.Value), x, w, b);
    }

    private sealed class LinearOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static readonly LinearOp<T> Instance = new();
        public override string Name => "Linear";

        // The rules of MatMul(x, w, transB) + b, written with differentiable operations.
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            var x = node.Inputs[0]; var w = node.Inputs[1]; var b = node.Inputs[2];
            return [needs[0] ? MatMul(g, w) : null, needs[1] ? MatMul(g, x, transA: true) : null, needs[2] ? SumTo(g, b.Shape) : null];
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
        {
            var x = node.Inputs[0]; var w = node.Inputs[1];
            var shape = node.Output.Shape;
            Var<T>? r = t[0] is { } tx ? MatMul(tx, w, transB: true) : null;
            if (t[1] is { } tw) r = Sum2(r, MatMul(x, tw, transB: true));
            if (t[2] is { } tb) r = Sum2(r, BroadcastTo(tb, shape));
            return r!;
        }

        // Stacked: the input's gradient and tangent are one GEMM over K N rows; the weight's are one GEMM per item.
        public override Tensor<T>?[] VjpStacked(Node<T> node, Tensor<T> g, bool[] needs)
        {
            var x = node.Inputs[0].Value; var w = node.Inputs[1].Value;
            return [needs[0] ? Stacked.RowsTimes(g, w, transB: false) : null,
                    needs[1] ? Stacked.ItemProducts(null, g.Shape[0], w.Shape, c => (Stacked.Item(g, c), x), true, false) : null,
                    needs[2] ? Stacked.SumTo(g, node.Inputs[2].Shape) : null];
        }

        public override Tensor<T> JvpStacked(Node<T> node, Tensor<T>?[] t)
        {
            var x = node.Inputs[0].Value; var w = node.Inputs[1].Value;
            var shape = node.Output.Shape;
            Tensor<T>? r = t[0] is { } tx ? Stacked.RowsTimes(tx, w, transB: true) : null;
            if (t[1] is { } tw) r = Stacked.ItemProducts(r, tw.Shape[0], shape, c => (x, Stacked.Item(tw, c)), false, true);
            if (t[2] is { } tb) r = Stacked.Sum2(r, Stacked.BroadcastTo(tb, shape));
            return r!;
        }
        // MatMul(x, w, transB) is bilinear; the bias adds its own coefficients (none when it is a parameter).
        public override Jet<T> Taylor(Node<T> node, Jet<T>?[] jets)
        {
            var x = node.Inputs[0]; var w = node.Inputs[1];
            var jet = TaylorRules.Bilinear(jets[0], x, jets[1], w, node.Output, (a, sa, b, sb) => StackedMatMul(a, sa, b, sb, false, true));
            if (jets[2] is not { } jb) return jet;
            var c = new Var<T>?[jet.Spec.Order];
            for (int k = 1; k <= c.Length; k++)
            {
                var bias = jb[k] is { } bk ? TaylorRules.BroadcastCoefficient(bk, !jet.Spec.IsCollapsed(k), node.Output.Shape) : null;
                c[k - 1] = jet[k] is { } y ? (bias is null ? y : Add(y, bias)) : bias;
            }
            return new Jet<T>(jet.Spec, node.Output, c);
        }
    }
}

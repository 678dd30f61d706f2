using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

/// <summary>
/// Tensor helpers for stacked (batched-over-columns) derivatives: a stack holds K tangents or
/// cotangents of a variable of shape s as one tensor [K, ...s]. Elementwise rules then broadcast an
/// unstacked operand against the stack (right-aligned), and linear maps see K times the rows.
/// </summary>
internal static class Stacked
{
    /// <summary>[k, ...shape].</summary>
    public static int[] Shape(int k, ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length + 1];
        s[0] = k;
        shape.CopyTo(s.AsSpan(1));
        return s;
    }

    /// <summary>Item c of a stack, shaped like the unstacked variable (a view).</summary>
    public static Tensor<T> Item<T>(Tensor<T> stack, int c) where T : unmanaged, IFloatingPointIeee754<T>
        => stack.Slice0(c, 1).Reshape(stack.Shape[1..].ToArray());

    /// <summary>A stack [K, ...s] viewed as [K, 1, ..., 1, ...s] of rank + 1 axes, so that it broadcasts
    /// right-aligned against an unstacked operand of at most <paramref name="rank"/> axes without K meeting
    /// one of that operand's axes.</summary>
    public static Tensor<T> Lift<T>(Tensor<T> stack, int rank) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int pad = rank - (stack.Rank - 1);
        if (pad <= 0) return stack;
        var s = new int[rank + 1];
        s[0] = stack.Shape[0];
        for (int i = 1; i <= pad; i++) s[i] = 1;
        stack.Shape[1..].CopyTo(s.AsSpan(pad + 1));
        return stack.Reshape(s);
    }

    /// <summary>Sums each item of a stack [K, ...big] down to <paramref name="shape"/>: the stacked adjoint of
    /// broadcasting. One item at a time, so each sum takes TensorOps' contiguous fast paths.</summary>
    public static Tensor<T> SumTo<T>(Tensor<T> stack, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (stack.Shape[1..].SequenceEqual(shape)) return stack;
        var target = shape.ToArray();
        return FromItems(stack.Shape[0], shape, c => TensorOps.SumTo(Item(stack, c), target));
    }

    /// <summary>Broadcasts each item of a stack [K, ...small] to <paramref name="shape"/>.</summary>
    public static Tensor<T> BroadcastTo<T>(Tensor<T> stack, ReadOnlySpan<int> shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (stack.Shape[1..].SequenceEqual(shape)) return stack;
        return TensorOps.BroadcastTo(Lift(stack, shape.Length), Shape(stack.Shape[0], shape));
    }

    /// <summary>Builds a stack [K, ...shape] from one tensor per item. A single item becomes the stack itself (a
    /// view, not a copy: a matrix-vector product's stacks have K = 1, and the CNN's Hessian-vector product copied
    /// 4 MB convolution tangents this way); the sweeps already allow a rule's result to share an input's buffer.</summary>
    public static Tensor<T> FromItems<T>(int k, ReadOnlySpan<int> shape, Func<int, Tensor<T>> item) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var stackShape = Shape(k, shape);
        int len = Tensors.Shape.Size(shape);
        Tensor<T> Checked(Tensor<T> t) => t.Length == len ? t
            : throw new InvalidOperationException($"A stacked rule produced an item of shape {Tensors.Shape.Format(t.Shape)}, expected {Tensors.Shape.Format(stackShape[1..])}.");
        if (k == 1) return Checked(item(0)).Reshape(stackShape);
        var result = Tensor<T>.Uninitialized(stackShape);
        for (int c = 0; c < k; c++) Checked(item(c)).Span.CopyTo(result.Span.Slice(c * len, len));
        return result;
    }

    /// <summary>Matrix product of every item of a stack of matrices [K, m, n] (not transposed) with one
    /// matrix: a single GEMM over K m rows.</summary>
    public static Tensor<T> RowsTimes<T>(Tensor<T> stack, Tensor<T> b, bool transB) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = stack.Shape[0], m = stack.Shape[1];
        var r = TensorOps.MatMul(stack.Reshape(k * m, stack.Shape[2]), b, false, transB);
        return r.Reshape(k, m, r.Shape[1]);
    }

    /// <summary>
    /// A stack whose item c is op(a_c) op(b_c) for the matrices that <paramref name="operands"/> gives for item c,
    /// each GEMM writing straight into its slice; with <paramref name="into"/> (a stack the calling rule made
    /// itself, of the result's shape) the products are added onto it in place and it is returned, which spares
    /// the separate sum and its pass over memory.
    /// </summary>
    public static Tensor<T> ItemProducts<T>(Tensor<T>? into, int k, ReadOnlySpan<int> shape, Func<int, (Tensor<T> A, Tensor<T> B)> operands, bool transA, bool transB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = into ?? Tensor<T>.Uninitialized(Shape(k, shape));
        int len = result.Length / Math.Max(1, k);
        T beta = into is null ? T.Zero : T.One;
        for (int c = 0; c < k; c++)
        {
            var (a, b) = operands(c);
            TensorOps.MatMulInto(a, b, transA, transB, beta, result.Span.Slice(c * len, len));
        }
        return result;
    }

    /// <summary>Sum of two optional stacks of one shape (at least one present).</summary>
    public static Tensor<T> Sum2<T>(Tensor<T>? a, Tensor<T>? b) where T : unmanaged, IFloatingPointIeee754<T>
        => a is null ? b! : b is null ? a : TensorOps.Binary(a, b, TensorOps.BinaryKind.Add);
}

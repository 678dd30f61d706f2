using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff;

public static partial class F
{
    /// <summary>Rows [start, start + count) of x along axis 0, as a view (no copy). Linear in x.</summary>
    internal static Var<T> Rows<T>(Var<T> x, int start, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Rank == 0 || start < 0 || count < 0 || start + count > x.Shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows [{start}, {start + count}) are outside axis 0 of shape {Shape.Format(x.Shape)}.");
        if (start == 0 && count == x.Shape[0]) return x;
        return Var<T>.Record(new RowsOp<T>(start), x.Value.Slice0(start, count), x);
    }

    /// <summary>The parts stacked along axis 0 (equal shapes after axis 0). Linear in each part.</summary>
    internal static Var<T> ConcatRows<T>(IReadOnlyList<Var<T>> parts) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (parts.Count == 0) throw new ArgumentException("ConcatRows needs at least one part.");
        if (parts.Count == 1) return parts[0];
        var inner = parts[0].Shape[1..].ToArray();
        int rows = 0;
        foreach (var p in parts)
        {
            if (p.Rank != inner.Length + 1 || !p.Shape[1..].SequenceEqual(inner))
                throw new ArgumentException($"ConcatRows parts must agree after axis 0: {Shape.Format(parts[0].Shape)} and {Shape.Format(p.Shape)}.");
            rows += p.Shape[0];
        }
        var value = Tensor<T>.Uninitialized([rows, .. inner]);
        int offset = 0;
        foreach (var p in parts)
        {
            p.Value.Span.CopyTo(value.Span.Slice(offset));
            offset += p.Length;
        }
        return Var<T>.Record(new ConcatRowsOp<T>(), value, [.. parts]);
    }

    /// <summary>x placed at rows [start, start + x's rows) of a zero tensor with <paramref name="total"/> rows.</summary>
    private static Var<T> PadRows<T>(Var<T> x, int start, int total) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var inner = x.Shape[1..].ToArray();
        var parts = new List<Var<T>>(3);
        if (start > 0) parts.Add(Const(Tensor<T>.Zeros([start, .. inner])));
        parts.Add(x);
        int after = total - start - x.Shape[0];
        if (after > 0) parts.Add(Const(Tensor<T>.Zeros([after, .. inner])));
        return ConcatRows(parts);
    }

    private sealed class RowsOp<T>(int start) : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "Rows";
        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs) => [PadRows(g, start, node.Inputs[0].Shape[0])];
        public override Var<T> Jvp(Node<T> node, Var<T>?[] t) => Rows(t[0]!, start, node.Output.Shape[0]);
    }

    private sealed class ConcatRowsOp<T> : Primitive<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override string Name => "ConcatRows";

        public override Var<T>?[] Vjp(Node<T> node, Var<T> g, bool[] needs)
        {
            var result = new Var<T>?[node.Inputs.Length];
            int start = 0;
            for (int i = 0; i < result.Length; i++)
            {
                int rows = node.Inputs[i].Shape[0];
                if (needs[i]) result[i] = Rows(g, start, rows);
                start += rows;
            }
            return result;
        }

        public override Var<T> Jvp(Node<T> node, Var<T>?[] t)
            => ConcatRows(node.Inputs.Select((x, i) => t[i] ?? Const(Tensor<T>.Zeros(x.Value.ShapeArray))).ToArray());
    }
}

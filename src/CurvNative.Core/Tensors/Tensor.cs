using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace CurvNative.Tensors;

/// <summary>
/// A dense, row-major tensor of float or double. The storage is a managed array plus an offset,
/// so contiguous views (reshape, a range along the batch axis) share memory without copying.
/// Tensors are plain storage; differentiable computation goes through <see cref="Autodiff.Var{T}"/>.
/// </summary>
public sealed class Tensor<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _shape;

    internal T[] Buffer { get; }
    internal int Offset { get; }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>The shape, outermost axis first.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>A copy of the shape as an array.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();

    public int Rank => _shape.Length;

    /// <summary>The elements in row-major order.</summary>
    public Span<T> Span => Buffer.AsSpan(Offset, Length);

    internal Tensor(T[] buffer, int offset, int[] shape)
    {
        _shape = shape;
        Length = Tensors.Shape.Size(shape);
        if (offset < 0 || offset + Length > buffer.Length)
            throw new ArgumentException($"A view of shape {Tensors.Shape.Format(shape)} at offset {offset} does not fit a buffer of {buffer.Length} elements.");
        Buffer = buffer;
        Offset = offset;
    }

    /// <summary>A zero tensor of the given shape.</summary>
    public static Tensor<T> Zeros(params int[] shape) => new(Allocate(Tensors.Shape.Size(shape), zeroed: true), 0, (int[])shape.Clone());

    /// <summary>A tensor whose elements are garbage: only for kernels that overwrite every element.</summary>
    internal static Tensor<T> Uninitialized(params int[] shape) => new(Allocate(Tensors.Shape.Size(shape), zeroed: false), 0, (int[])shape.Clone());

    /// <summary>Every tensor buffer comes from here: a buffer an open <see cref="TensorPool{T}"/> scope hands back,
    /// or a new array the scope (if any) tracks and <see cref="Diagnostics.PeakMemory"/> observes.</summary>
    private static T[] Allocate(int n, bool zeroed)
    {
        if (TensorPool<T>.Rent(n) is { } reused)
        {
            if (zeroed) Array.Clear(reused, 0, n);
            return reused;
        }
        Diagnostics.PeakMemory.Observe((long)n * Unsafe.SizeOf<T>());
        var buffer = zeroed ? new T[n] : GC.AllocateUninitializedArray<T>(n);
        TensorPool<T>.Track(buffer);
        return buffer;
    }

    /// <summary>A tensor filled with one value.</summary>
    public static Tensor<T> Full(T value, params int[] shape)
    {
        var t = Zeros(shape);
        t.Span.Fill(value);
        return t;
    }

    /// <summary>A scalar tensor (shape []).</summary>
    public static Tensor<T> Scalar(T value) => new([value], 0, []);

    /// <summary>Wraps an array without copying; its length must equal the shape's size.</summary>
    public static Tensor<T> FromArray(T[] data, params int[] shape)
    {
        int n = Tensors.Shape.Size(shape);
        if (data.Length != n)
            throw new ArgumentException($"Data of length {data.Length} does not match shape {Tensors.Shape.Format(shape)} ({n} elements).");
        // The array exists already (often just made by the caller): observe it as live, not as about to be allocated.
        Diagnostics.PeakMemory.Observe(0);
        return new(data, 0, (int[])shape.Clone());
    }

    /// <summary>Copies a span into a new tensor.</summary>
    public static Tensor<T> FromSpan(ReadOnlySpan<T> data, params int[] shape) => FromArray(data.ToArray(), shape);

    /// <summary>Converts element types (float to double and back).</summary>
    public Tensor<TOut> Cast<TOut>() where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var result = Tensor<TOut>.Zeros(_shape);
        var src = Span; var dst = result.Span;
        for (int i = 0; i < src.Length; i++) dst[i] = TOut.CreateTruncating(src[i]);
        return result;
    }

    /// <summary>A view with another shape and the same elements; one entry may be -1.</summary>
    public Tensor<T> Reshape(params int[] shape) => new(Buffer, Offset, Tensors.Shape.Resolve(shape, Length, _shape));

    /// <summary>A view of rows [start, start + count) along axis 0, without copying.</summary>
    public Tensor<T> Slice0(int start, int count)
    {
        if (Rank == 0) throw new InvalidOperationException("A scalar has no batch axis to slice.");
        if (start < 0 || count < 0 || start + count > _shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Rows [{start}, {start + count}) are outside axis 0 of shape {Tensors.Shape.Format(_shape)}.");
        int inner = _shape[0] == 0 ? 0 : Length / _shape[0];
        var shape = (int[])_shape.Clone();
        shape[0] = count;
        return new(Buffer, Offset + start * inner, shape);
    }

    /// <summary>A view of the contiguous elements [offset, offset + size of shape) with the given shape, without copying.</summary>
    internal Tensor<T> View(int offset, int[] shape) => new(Buffer, Offset + offset, shape);

    /// <summary>A deep copy with its own storage.</summary>
    public Tensor<T> Clone()
    {
        var copy = Uninitialized(_shape);
        Span.CopyTo(copy.Span);
        return copy;
    }

    /// <summary>Copies the elements into a new array.</summary>
    public T[] ToArray() => Span.ToArray();

    /// <summary>Element access by full index (slow path, for tests and small work).</summary>
    public T this[params int[] index]
    {
        get => Buffer[Offset + FlatIndex(index)];
        set => Buffer[Offset + FlatIndex(index)] = value;
    }

    private int FlatIndex(int[] index)
    {
        if (index.Length != Rank) throw new ArgumentException($"Index of rank {index.Length} for a tensor of shape {Tensors.Shape.Format(_shape)}.");
        int flat = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)_shape[i]) throw new IndexOutOfRangeException($"Index {index[i]} out of range on axis {i} of shape {Tensors.Shape.Format(_shape)}.");
            flat = flat * _shape[i] + index[i];
        }
        return flat;
    }

    /// <summary>The single element of a tensor with one element.</summary>
    public T ToScalar()
    {
        if (Length != 1) throw new InvalidOperationException($"ToScalar() needs exactly one element, the tensor has shape {Tensors.Shape.Format(_shape)}.");
        return Buffer[Offset];
    }

    /// <summary>True when every element is finite (no NaN, no infinity).</summary>
    public bool AllFinite()
    {
        foreach (var v in Span) if (!T.IsFinite(v)) return false;
        return true;
    }

    public override string ToString()
    {
        var sb = new StringBuilder($"Tensor<{typeof(T).Name}>{Tensors.Shape.Format(_shape)}");
        if (Length <= 16) sb.Append(" {").Append(string.Join(", ", Span.ToArray())).Append('}');
        return sb.ToString();
    }
}

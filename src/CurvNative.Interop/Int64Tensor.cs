using CurvNative.Tensors;

namespace CurvNative.Interop;

/// <summary>
/// A dense, row-major array of 64-bit integers with a shape: what safetensors <c>I64</c> and NumPy
/// <c>&lt;i8</c> entries load into (token ids, labels, step counters). <see cref="Tensor{T}"/> holds only
/// floating-point elements, hence this small companion type.
/// </summary>
public sealed class Int64Tensor
{
    private readonly int[] _shape;

    /// <summary>Wraps <paramref name="data"/> without copying; its length must equal the shape's size.</summary>
    /// <exception cref="ArgumentException">The length does not match the shape, or a dimension is negative.</exception>
    public Int64Tensor(long[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        int n = Tensors.Shape.Size(shape);
        if (data.Length != n)
            throw new ArgumentException($"Data of length {data.Length} does not match shape {Tensors.Shape.Format(shape)} ({n} elements).", nameof(data));
        Data = data;
        _shape = (int[])shape.Clone();
    }

    /// <summary>The elements in row-major order (the wrapped array, not a copy).</summary>
    public long[] Data { get; }

    /// <summary>The shape, outermost axis first; empty for a scalar.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>A copy of the shape as an array.</summary>
    public int[] ShapeArray => (int[])_shape.Clone();

    /// <summary>Number of axes.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Length => Data.Length;

    /// <inheritdoc />
    public override string ToString() => $"Int64Tensor{Tensors.Shape.Format(_shape)}";
}

using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.NN.Data;

/// <summary>Targets of a data set: class indices (cross-entropy) or values shaped like the model output.</summary>
public sealed class Targets<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Targets(int[]? classes, int classOffset, int count, Tensor<T>? values)
    {
        _classes = classes; _classOffset = classOffset; Count = count; Values = values;
    }

    private readonly int[]? _classes;
    private readonly int _classOffset;

    /// <summary>Class indices for this range of samples, or empty when the targets are values.</summary>
    public ReadOnlySpan<int> ClassIndices => _classes is null ? [] : _classes.AsSpan(_classOffset, Count);

    public bool IsClassIndices => _classes is not null;

    /// <summary>Target values [N, ...], or null for class indices.</summary>
    public Tensor<T>? Values { get; }

    public int Count { get; }

    public static Targets<T> FromClasses(int[] classes) => new(classes, 0, classes.Length, null);

    public static Targets<T> FromValues(Tensor<T> values)
    {
        if (values.Rank < 1) throw new ArgumentException("Target values need a batch axis, got a scalar.");
        return new(null, 0, values.Shape[0], values);
    }

    /// <summary>Samples [start, start + count) without copying.</summary>
    public Targets<T> Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ArgumentOutOfRangeException(nameof(start), $"Targets [{start}, {start + count}) are outside the {Count} samples.");
        return _classes is not null ? new(_classes, _classOffset + start, count, null) : new(null, 0, count, Values!.Slice0(start, count));
    }
}

/// <summary>A mini-batch: inputs and targets, both views into the data set.</summary>
public readonly record struct Batch<T>(Tensor<T> X, Targets<T> Y) where T : unmanaged, IFloatingPointIeee754<T>
{
    public int Count => Y.Count;
}

/// <summary>An in-memory data set, iterated in fixed order in mini-batches (the last may be smaller).</summary>
public sealed class DataSet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public DataSet(Tensor<T> x, Targets<T> y)
    {
        if (x.Rank < 1) throw new ArgumentException("Inputs need a batch axis, got a scalar.");
        if (x.Shape[0] != y.Count)
            throw new ArgumentException($"Inputs have {x.Shape[0]} samples (shape {Shape.Format(x.Shape)}) but targets have {y.Count}.");
        X = x; Y = y;
    }

    public Tensor<T> X { get; }
    public Targets<T> Y { get; }
    public int Count => Y.Count;

    /// <summary>Shape of one input sample.</summary>
    public int[] InputShape => X.Shape[1..].ToArray();

    /// <summary>Mini-batches in order; batchSize defaults to the whole set.</summary>
    public IEnumerable<Batch<T>> Batches(int? batchSize = null)
    {
        int b = batchSize ?? Math.Max(1, Count);
        if (b < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), $"Batch size must be positive, got {b}.");
        for (int start = 0; start < Count; start += b)
        {
            int n = Math.Min(b, Count - start);
            yield return new Batch<T>(X.Slice0(start, n), Y.Slice(start, n));
        }
    }

    /// <summary>The first count samples (a view).</summary>
    public DataSet<T> Take(int count) => new(X.Slice0(0, count), Y.Slice(0, count));

    /// <summary>Samples [start, start + count) (a view).</summary>
    public DataSet<T> Range(int start, int count) => new(X.Slice0(start, count), Y.Slice(start, count));
}

using System.Collections.Immutable;
using System.Numerics;
using System.Text;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// The domain or codomain of a <see cref="LinearOperator{T}"/>: an ordered list of block shapes,
/// e.g. the parameter shapes [[16, 12], [16], [5, 16], [5]] of a two-layer network.
/// A vector of the space is either flat, of length <see cref="Dimension"/> = Σ_b Π shape_b, with
/// block b stored row-major at <c>Offsets[b]</c>, or a list of per-block tensors (the order of
/// torch.nn.utils.parameters_to_vector). Spaces are immutable values: two spaces are equal when
/// their block shapes are equal in order.
/// </summary>
public sealed class Space : IEquatable<Space>
{
    private readonly int[][] _blocks;
    private readonly int[] _sizes;
    private readonly int[] _offsets;

    /// <summary>A space from block shapes (copied). A block of shape [] is a scalar (size 1).</summary>
    /// <exception cref="ArgumentException">A dimension is negative or the total size overflows int.</exception>
    public Space(params int[][] blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        _blocks = new int[blocks.Length][];
        _sizes = new int[blocks.Length];
        _offsets = new int[blocks.Length];
        long total = 0;
        for (int b = 0; b < blocks.Length; b++)
        {
            if (blocks[b] is null) throw new ArgumentNullException(nameof(blocks), $"Block {b} of a space has no shape.");
            foreach (var d in blocks[b])
                if (d < 0)
                    throw new ArgumentException($"Block {b} of a space has shape {Shape.Format(blocks[b])} with a negative dimension.", nameof(blocks));
            _blocks[b] = (int[])blocks[b].Clone();
            _sizes[b] = Shape.Size(_blocks[b]);
            _offsets[b] = (int)total;
            total += _sizes[b];
            if (total > int.MaxValue)
                throw new ArgumentException($"A space with blocks {Format(blocks)} has more than {int.MaxValue} elements.", nameof(blocks));
        }
        Dimension = (int)total;
        Blocks = [.. _blocks.Select(s => ImmutableArray.Create(s))];
        Sizes = [.. _sizes];
        Offsets = [.. _offsets];
    }

    /// <summary>The space R^n as one block of shape [n].</summary>
    public static Space Flat(int n)
    {
        if (n < 0) throw new ArgumentException($"A flat space needs a non-negative dimension, got {n}.", nameof(n));
        return new Space([n]);
    }

    /// <summary>The space of a list of parameters: one block per parameter, shaped like its value.</summary>
    public static Space FromParameters<T>(IEnumerable<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
        => new([.. parameters.Select(p => p.Value.ShapeArray)]);

    /// <summary>The blocks of several spaces in order: the space of a block-diagonal operator.</summary>
    public static Space Concat(params IEnumerable<Space> spaces)
        => new([.. spaces.SelectMany(s => s._blocks)]);

    /// <summary>Total number of scalars, Σ_b Π shape_b.</summary>
    public int Dimension { get; }

    /// <summary>Number of blocks.</summary>
    public int BlockCount => _blocks.Length;

    /// <summary>The block shapes in order.</summary>
    public ImmutableArray<ImmutableArray<int>> Blocks { get; }

    /// <summary>Number of scalars of each block, Π shape_b.</summary>
    public ImmutableArray<int> Sizes { get; }

    /// <summary>Where each block starts in a flat vector: Offsets[b] = Σ_{c &lt; b} Sizes[c].</summary>
    public ImmutableArray<int> Offsets { get; }

    /// <summary>The shape of block <paramref name="block"/>.</summary>
    public ReadOnlySpan<int> BlockShape(int block) => _blocks[CheckBlock(block)];

    /// <summary>
    /// The space made of the blocks <paramref name="blockIndices"/> of this space, in the given order
    /// (indices must be distinct and in range).
    /// </summary>
    public Space Subspace(params int[] blockIndices)
    {
        ArgumentNullException.ThrowIfNull(blockIndices);
        CheckBlockIndices(blockIndices, nameof(blockIndices));
        return new Space([.. blockIndices.Select(i => _blocks[i])]);
    }

    /// <summary>
    /// Splits a flat vector of length <see cref="Dimension"/> into one tensor per block (copies),
    /// block b holding flat[Offsets[b] .. Offsets[b] + Sizes[b]) reshaped row-major to its shape.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="flat"/> is not a vector of length <see cref="Dimension"/>.</exception>
    public Tensor<T>[] Split<T>(Tensor<T> flat) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(flat);
        if (flat.Rank != 1 || flat.Length != Dimension)
            throw new ArgumentException(
                $"Expected a flat vector of shape [{Dimension}] for the space {this} but got shape {Shape.Format(flat.Shape)}.", nameof(flat));
        var result = new Tensor<T>[BlockCount];
        for (int b = 0; b < BlockCount; b++)
            result[b] = Tensor<T>.FromSpan(flat.Span.Slice(_offsets[b], _sizes[b]), _blocks[b]);
        return result;
    }

    /// <summary>Concatenates one tensor per block, each of the block's exact shape, into a flat vector (copies).</summary>
    /// <exception cref="ArgumentException">Wrong number of blocks, or a block of the wrong shape.</exception>
    public Tensor<T> Join<T>(IReadOnlyList<Tensor<T>> blocks) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (blocks.Count != BlockCount)
            throw new ArgumentException($"Expected {BlockCount} blocks for the space {this} but got {blocks.Count}.", nameof(blocks));
        var flat = Tensor<T>.Zeros(Dimension);
        for (int b = 0; b < BlockCount; b++)
        {
            var t = blocks[b] ?? throw new ArgumentNullException(nameof(blocks), $"Block {b} is null.");
            if (!t.Shape.SequenceEqual(_blocks[b]))
                throw new ArgumentException(
                    $"Block {b} of the space {this}: expected shape {Shape.Format(_blocks[b])} but got {Shape.Format(t.Shape)}.", nameof(blocks));
            t.Span.CopyTo(flat.Span.Slice(_offsets[b], _sizes[b]));
        }
        return flat;
    }

    /// <summary>
    /// Splits columns [start, start + count) of a matrix X [Dimension, K] into one stack per block:
    /// stack b is [count, ...shape of block b], item c holding column start + c. Stacks are what the
    /// stacked derivatives (<c>Autograd.GradStacked</c>, <c>Autograd.JvpStacked</c>) take. When X has one
    /// column the blocks are contiguous in it and the stacks are views of X's memory (a matrix-vector product
    /// then holds no copy of its vector), so write to neither while the other is in use; otherwise they are copies.
    /// </summary>
    /// <exception cref="ArgumentException">X is not [Dimension, K] or the column range is outside it.</exception>
    public Tensor<T>[] SplitColumns<T>(Tensor<T> x, int start, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = CheckColumns(x, start, count, nameof(x));
        var result = new Tensor<T>[BlockCount];
        if (k == 1)
        {
            for (int b = 0; b < BlockCount; b++) result[b] = x.View(_offsets[b], [count, .. _blocks[b]]);
            return result;
        }
        var xs = x.Span;
        for (int b = 0; b < BlockCount; b++)
        {
            var stack = Tensor<T>.Uninitialized([count, .. _blocks[b]]); // every element is written below
            result[b] = stack;
            var ss = stack.Span;
            int len = _sizes[b], off = _offsets[b];
            for (int j = 0; j < len; j++)
                for (int c = 0; c < count; c++) ss[c * len + j] = xs[(off + j) * k + start + c];
        }
        return result;
    }

    /// <summary>Adds scale times one stack per block ([count, ...block shape], as from
    /// <see cref="SplitColumns{T}"/>) into columns [start, start + count) of Y [Dimension, K].</summary>
    /// <exception cref="ArgumentException">Y is not [Dimension, K], the column range is outside it, or a stack has the wrong shape.</exception>
    public void AddColumns<T>(Tensor<T> y, int start, IReadOnlyList<Tensor<T>> stacks, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stacks);
        if (stacks.Count != BlockCount)
            throw new ArgumentException($"Expected {BlockCount} stacks for the space {this} but got {stacks.Count}.", nameof(stacks));
        int count = stacks.Count == 0 ? 0 : stacks[0].Shape[0];
        int k = CheckColumns(y, start, count, nameof(y));
        var ys = y.Span;
        for (int b = 0; b < BlockCount; b++)
        {
            var t = stacks[b];
            if (t.Rank != _blocks[b].Length + 1 || t.Shape[0] != count || !t.Shape[1..].SequenceEqual(_blocks[b]))
                throw new ArgumentException($"Stack {b} of the space {this}: expected shape [{count}, {string.Join(", ", _blocks[b])}] but got {Shape.Format(t.Shape)}.", nameof(stacks));
            var ss = t.Span;
            int len = _sizes[b], off = _offsets[b];
            if (k == 1)
            {
                var yb = ys.Slice(off, len * count);
                Reductions.AddScaled(ss, scale, yb);
                continue;
            }
            for (int j = 0; j < len; j++)
                for (int c = 0; c < count; c++) ys[(off + j) * k + start + c] += scale * ss[c * len + j];
        }
    }

    private int CheckColumns<T>(Tensor<T> m, int start, int count, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(m, name);
        if (m.Rank != 2 || m.Shape[0] != Dimension)
            throw new ArgumentException($"Expected a matrix [{Dimension}, K] for the space {this} but got shape {Shape.Format(m.Shape)}.", name);
        if (start < 0 || count < 0 || start + count > m.Shape[1])
            throw new ArgumentException($"Columns [{start}, {start + count}) are outside the {m.Shape[1]} columns of the matrix.", name);
        return m.Shape[1];
    }

    /// <summary>Formats as a list of shapes: [[16, 12], [16]].</summary>
    public override string ToString() => Format(_blocks);

    /// <summary>True when both spaces have the same block shapes in the same order (same dimension is not enough).</summary>
    public bool Equals(Space? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other)) return true;
        if (other._blocks.Length != _blocks.Length) return false;
        for (int b = 0; b < _blocks.Length; b++)
            if (!_blocks[b].AsSpan().SequenceEqual(other._blocks[b])) return false;
        return true;
    }

    /// <inheritdoc cref="Equals(Space?)"/>
    public override bool Equals(object? obj) => obj is Space s && Equals(s);

    /// <summary>A hash of the block shapes, consistent with <see cref="Equals(Space?)"/>.</summary>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var block in _blocks)
        {
            h.Add(block.Length);
            foreach (var d in block) h.Add(d);
        }
        return h.ToHashCode();
    }

    /// <summary>Value equality of block shapes; see <see cref="Equals(Space?)"/>.</summary>
    public static bool operator ==(Space? a, Space? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Negation of <c>==</c>.</summary>
    public static bool operator !=(Space? a, Space? b) => !(a == b);

    internal void CheckBlockIndices(int[] indices, string paramName)
    {
        var seen = new bool[BlockCount];
        foreach (var i in indices)
        {
            if ((uint)i >= (uint)BlockCount)
                throw new ArgumentOutOfRangeException(paramName, $"Block index {i} is out of range for the space {this} with {BlockCount} blocks.");
            if (seen[i])
                throw new ArgumentException($"Block index {i} appears twice in [{string.Join(", ", indices)}].", paramName);
            seen[i] = true;
        }
    }

    private int CheckBlock(int block)
    {
        if ((uint)block >= (uint)BlockCount)
            throw new ArgumentOutOfRangeException(nameof(block), $"Block index {block} is out of range for the space {this} with {BlockCount} blocks.");
        return block;
    }

    private static string Format(int[][] blocks)
    {
        var sb = new StringBuilder("[");
        for (int b = 0; b < blocks.Length; b++)
        {
            if (b > 0) sb.Append(", ");
            sb.Append(Shape.Format(blocks[b]));
        }
        return sb.Append(']').ToString();
    }
}

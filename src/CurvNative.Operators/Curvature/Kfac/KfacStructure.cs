using System.Numerics;
using CurvNative.NN.Modules;

namespace CurvNative.Operators.Curvature.Kfac;

/// <summary>One diagonal block of a KFAC-type operator: a layer's weight (or joint weight-and-bias) block, or its
/// separate bias block, as a structured operator in the parameter layout.</summary>
internal sealed record KfacPiece<T>(KfacLayer<T> Layer, bool IsBias, LinearOperator<T> Block) where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The Kronecker or Kronecker-eigenbasis operator inside (a joint block is a permutation of it).</summary>
    public LinearOperator<T> Core => Block is PermutedOperator<T> p ? p.Inner : Block;

    /// <summary>The same piece with <paramref name="core"/> in place of <see cref="Core"/> (same permutation).</summary>
    public KfacPiece<T> With(LinearOperator<T> core) => this with { Block = Block is PermutedOperator<T> p ? p.With(core) : core };
}

/// <summary>
/// KFAC, EKFAC and their damped inverses as block-diagonal operators: per layer a weight block on the weight's
/// space (G ⊗ A, or its eigenbasis form), a bias block G ⊗ [1] on the bias's space, or one joint block G ⊗ A_aug on
/// [W | b] mapped onto the parameter layout (W, then b) by a permutation. Blocks are in parameter order.
/// </summary>
internal static class KfacStructure
{
    /// <summary>
    /// The pieces in parameter order and their block diagonal, whose space is checked to be that of
    /// <paramref name="parameters"/>. <paramref name="weight"/> makes a layer's weight or joint block on the given
    /// space ([O, D'] row-major: the weight's own for a weight block, [O, D + 1] for a joint one); <paramref name="bias"/>
    /// a separate bias block on [O].
    /// </summary>
    public static (List<KfacPiece<T>> Pieces, BlockDiagonalOperator<T> Structure) Assemble<T>(IReadOnlyList<Parameter<T>> parameters,
        IEnumerable<KfacLayer<T>> layers, Func<KfacLayer<T>, Space, LinearOperator<T>> weight, Func<KfacLayer<T>, Space, LinearOperator<T>> bias)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var index = new Dictionary<Parameter<T>, int>(ReferenceEqualityComparer.Instance);
        var offsets = new int[parameters.Count];
        for (int i = 0; i < parameters.Count; i++)
        {
            index[parameters[i]] = i;
            if (i > 0) offsets[i] = offsets[i - 1] + parameters[i - 1].Length;
        }
        int IndexOf(Parameter<T> p) => index.TryGetValue(p, out int i) ? i : throw new InvalidOperationException($"Parameter {p.Name} is not in the operator's space.");

        var placed = new List<(int First, KfacPiece<T> Piece)>();
        foreach (var layer in layers)
        {
            int o = layer.OutDim, d = layer.InDim;
            if (layer.Joint)
            {
                int wi = IndexOf(layer.Weight!), bi = IndexOf(layer.Bias!);
                if (Math.Abs(wi - bi) != 1)
                    throw new InvalidOperationException($"Layer {layer}: a joint weight-and-bias block needs the weight and the bias next to each other in the parameter order.");
                int first = Math.Min(wi, bi), start = offsets[first], wOff = offsets[wi] - start, bOff = offsets[bi] - start;
                var perm = new int[o * (d + 1)];
                for (int r = 0; r < o; r++)
                {
                    for (int c = 0; c < d; c++) perm[r * (d + 1) + c] = wOff + r * d + c;
                    perm[r * (d + 1) + d] = bOff + r;
                }
                var space = Space.FromParameters(new[] { parameters[first], parameters[first + 1] });
                placed.Add((first, new KfacPiece<T>(layer, false, new PermutedOperator<T>(weight(layer, new Space([o, d + 1])), perm, space))));
                continue;
            }
            if (layer.Weight is { } w) placed.Add((IndexOf(w), new KfacPiece<T>(layer, false, weight(layer, Space.FromParameters(new[] { w })))));
            if (layer.Bias is { } b) placed.Add((IndexOf(b), new KfacPiece<T>(layer, true, bias(layer, Space.FromParameters(new[] { b })))));
        }
        var pieces = placed.OrderBy(p => p.First).Select(p => p.Piece).ToList();
        var structure = new BlockDiagonalOperator<T>(pieces.Select(p => p.Block));
        if (structure.InputSpace != Space.FromParameters(parameters))
            throw new InvalidOperationException($"Bug in KFAC's block structure: its blocks span {structure.InputSpace} instead of the parameters' {Space.FromParameters(parameters)}.");
        return (pieces, structure);
    }

    /// <summary>The block diagonal of <paramref name="pieces"/> (already in parameter order).</summary>
    public static BlockDiagonalOperator<T> Diagonal<T>(IEnumerable<KfacPiece<T>> pieces) where T : unmanaged, IFloatingPointIeee754<T>
        => new(pieces.Select(p => p.Block));

    /// <summary>Disposes the pieces' resident buffers.</summary>
    public static void Dispose<T>(IEnumerable<KfacPiece<T>> pieces) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var p in pieces) (p.Block as IDisposable)?.Dispose();
    }
}

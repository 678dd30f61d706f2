using System.Numerics;
using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Pde;

/// <summary>Which differential operator a <see cref="PdeOperator{T}"/> applies.</summary>
public enum PdeOperatorKind
{
    /// <summary>Delta u = sum_i d_i^2 u.</summary>
    Laplacian,
    /// <summary>sum_ij C_ij d_i d_j u = tr(C H) for a symmetric C = S diag(sign) S^T.</summary>
    WeightedLaplacian,
    /// <summary>Delta^2 u = sum_ij d_i^2 d_j^2 u.</summary>
    Biharmonic,
}

/// <summary>The distribution of the random directions of a stochastic estimate.</summary>
public enum DirectionDistribution
{
    /// <summary>Standard normal entries: E[v v^T] = I and E[v_i v_j v_k v_l] = d_ij d_kl + d_ik d_jl + d_il d_jk.</summary>
    Gaussian,
    /// <summary>Entries +1 or -1 with probability 1/2: E[v v^T] = I (lowest variance for the Laplacian; not for fourth order).</summary>
    Rademacher,
}

/// <summary>How the operator's derivatives are computed.</summary>
public enum TaylorMode
{
    /// <summary>Collapsed Taylor mode (Dangel et al. 2025): the highest coefficient propagated as one weighted sum
    /// (2 + D vectors per point for the exact Laplacian).</summary>
    Collapsed,
    /// <summary>Standard Taylor mode: every coefficient per direction (1 + 2D vectors for the exact Laplacian).</summary>
    Standard,
    /// <summary>Nested first-order autodiff: directional derivatives by repeated reverse mode (double backward).</summary>
    Nested,
}

/// <summary>The random-direction setting of a stochastic (Hutchinson-style) estimate.</summary>
/// <param name="Directions">R, the number of random directions per point.</param>
/// <param name="Distribution">Their distribution.</param>
/// <param name="Seed">The seed: the same seed draws the same directions (per point, in point order, so the draws do
/// not depend on how the points are chunked).</param>
public sealed record StochasticEstimate(int Directions, DirectionDistribution Distribution, int Seed);

/// <summary>
/// A linear differential operator of a scalar function u: R^D -> R, written as a weighted sum of K-th order directional
/// derivatives sum_r w_r d^K/dt^K u(x + t v_r), which is what Taylor mode propagates. Immutable; factors (of a weighted
/// Laplacian's C) are computed once at construction.
/// <list type="bullet">
/// <item>Laplacian: v_r = e_r, w_r = 1 (R = D).</item>
/// <item>Weighted Laplacian tr(C H) with C = S diag(sign) S^T: v_r = s_r (columns of S), w_r = sign_r (R = rank).</item>
/// <item>Biharmonic: from d^4_{e_i+e_j} + d^4_{e_i-e_j} = 2 d_i^4 + 12 d_i^2 d_j^2 + 2 d_j^4,
/// Delta^2 u = sum_i (1 - (D - 1)/3) d^4_{e_i} u + (1/6) sum_{i&lt;j} (d^4_{e_i+e_j} + d^4_{e_i-e_j}) u (R = D^2).</item>
/// <item>Stochastic: E[v^T H v] = tr H for E[v v^T] = I, so Delta u ~ (1/R) sum_r d^2_{v_r} u; for Gaussian v,
/// E[d^4_v u] = 3 Delta^2 u, so Delta^2 u ~ (1/(3R)) sum_r d^4_{v_r} u; a weighted Laplacian draws v = S_+ z with
/// weight +1/R and v = S_- z with weight -1/R for its positive and negative parts. All unbiased.</item>
/// </list>
/// </summary>
public sealed class PdeOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>? _factor; // S [D, rank]
    private readonly T[]? _signs;

    private PdeOperator(PdeOperatorKind kind, int d, Tensor<T>? factor, T[]? signs, StochasticEstimate? estimate)
    {
        Kind = kind;
        InputDimension = d;
        _factor = factor;
        _signs = signs;
        Estimate = estimate;
    }

    /// <summary>Which operator.</summary>
    public PdeOperatorKind Kind { get; }

    /// <summary>D, the input dimension.</summary>
    public int InputDimension { get; }

    /// <summary>The stochastic setting, or null for the exact operator.</summary>
    public StochasticEstimate? Estimate { get; }

    /// <summary>K: 2 for (weighted) Laplacians, 4 for the biharmonic.</summary>
    public int DerivativeOrder => Kind == PdeOperatorKind.Biharmonic ? 4 : 2;

    /// <summary>The weighted Laplacian's factor S [D, rank] (null for the other operators).</summary>
    public Tensor<T>? Factor => _factor?.Clone();

    /// <summary>The weighted Laplacian's signs (+1 or -1 per column of S; null for the other operators).</summary>
    public IReadOnlyList<T>? Signs => _signs;

    /// <summary>The Laplacian sum_i d_i^2 u on R^D.</summary>
    public static PdeOperator<T> Laplacian(int d) => new(PdeOperatorKind.Laplacian, CheckDimension(d), null, null, null);

    /// <summary>The biharmonic Delta^2 u = sum_ij d_i^2 d_j^2 u on R^D.</summary>
    public static PdeOperator<T> Biharmonic(int d) => new(PdeOperatorKind.Biharmonic, CheckDimension(d), null, null, null);

    /// <summary>
    /// The weighted Laplacian sum_ij C_ij d_i d_j u for a symmetric D x D matrix C (indefinite and rank-deficient
    /// allowed). C is factored once here (symmetric eigendecomposition C = V diag(lambda) V^T, S = V |lambda|^(1/2),
    /// sign = sign(lambda), eigenvalues below D eps max|lambda| dropped), never per call.
    /// </summary>
    /// <exception cref="ArgumentException">C is not square or not symmetric (to a relative 1e-10 in float64, 1e-5 in float32).</exception>
    public static PdeOperator<T> WeightedLaplacian(Tensor<T> c)
    {
        ArgumentNullException.ThrowIfNull(c);
        if (c.Rank != 2 || c.Shape[0] != c.Shape[1] || c.Shape[0] < 1)
            throw new ArgumentException($"The weighting matrix C must be square D x D, got {Shape.Format(c.Shape)}.");
        int d = c.Shape[0];
        var a = c.ToArray();
        T scale = T.Zero;
        foreach (var v in a)
        {
            if (!T.IsFinite(v)) throw new ArgumentException("The weighting matrix C has a non-finite entry.");
            scale = T.Max(scale, T.Abs(v));
        }
        T tol = T.CreateTruncating(typeof(T) == typeof(float) ? 1e-5 : 1e-10) * scale;
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                if (T.Abs(a[i * d + j] - a[j * d + i]) > tol)
                    throw new ArgumentException($"The weighting matrix C must be symmetric: C[{i},{j}] = {a[i * d + j]} but C[{j},{i}] = {a[j * d + i]}.");
        var w = new T[d];
        if (scale > T.Zero) Lapack.SymmetricEigen<T>(d, a, w);
        T maxAbs = w.Length == 0 ? T.Zero : w.Max(T.Abs);
        T cut = T.CreateTruncating(d) * (typeof(T) == typeof(float) ? T.CreateTruncating(1.2e-7) : T.CreateTruncating(2.3e-16)) * maxAbs;
        var kept = Enumerable.Range(0, d).Where(i => scale > T.Zero && T.Abs(w[i]) > cut).ToArray();
        // Row i of a is the eigenvector of w[i]; column r of S is v_r sqrt|lambda_r|.
        var s = Tensor<T>.Zeros(d, kept.Length);
        var signs = new T[kept.Length];
        for (int r = 0; r < kept.Length; r++)
        {
            int i = kept[r];
            T root = T.Sqrt(T.Abs(w[i]));
            signs[r] = w[i] > T.Zero ? T.One : -T.One;
            for (int row = 0; row < d; row++) s.Span[row * kept.Length + r] = a[i * d + row] * root;
        }
        return new PdeOperator<T>(PdeOperatorKind.WeightedLaplacian, d, s, signs, null);
    }

    /// <summary>
    /// The weighted Laplacian for C = S diag(sign) S^T given by its factor S [D, R] (any R &gt;= 1, rank-deficient or
    /// indefinite C allowed) and one sign (+1 or -1) per column: sum_r sign_r d^2_{s_r} u.
    /// </summary>
    public static PdeOperator<T> WeightedLaplacian(Tensor<T> factor, IReadOnlyList<T> signs)
    {
        ArgumentNullException.ThrowIfNull(factor);
        ArgumentNullException.ThrowIfNull(signs);
        if (factor.Rank != 2 || factor.Shape[0] < 1 || factor.Shape[1] < 1)
            throw new ArgumentException($"The factor S must be a D x R matrix with D, R >= 1, got {Shape.Format(factor.Shape)}.");
        if (signs.Count != factor.Shape[1])
            throw new ArgumentException($"Expected {factor.Shape[1]} signs (one per column of S), got {signs.Count}.");
        if (signs.Any(v => v != T.One && v != -T.One))
            throw new ArgumentException("Each sign must be +1 or -1.");
        if (!factor.AllFinite()) throw new ArgumentException("The factor S has a non-finite entry.");
        return new PdeOperator<T>(PdeOperatorKind.WeightedLaplacian, factor.Shape[0], factor.Clone(), [.. signs], null);
    }

    /// <summary>The same operator estimated from <paramref name="directions"/> random directions per point
    /// (Hutchinson-style, unbiased). The biharmonic needs Gaussian directions (Rademacher ones are biased for it).</summary>
    public PdeOperator<T> Stochastic(int directions, DirectionDistribution distribution, int seed)
    {
        if (directions < 1) throw new ArgumentOutOfRangeException(nameof(directions), $"A stochastic estimate needs at least one direction, got {directions}.");
        if (Kind == PdeOperatorKind.Biharmonic && distribution != DirectionDistribution.Gaussian)
            throw new ArgumentException("The stochastic biharmonic needs Gaussian directions: with Rademacher ones E[d^4_v u] = 3 Delta^2 u - 2 sum_i d_i^4 u is biased.");
        return new PdeOperator<T>(Kind, InputDimension, _factor, _signs, new StochasticEstimate(directions, distribution, seed));
    }

    /// <summary>The exact operator (drops a stochastic setting).</summary>
    public PdeOperator<T> Exact() => new(Kind, InputDimension, _factor, _signs, null);

    /// <summary>The same stochastic operator with another seed (one per training step, say).</summary>
    public PdeOperator<T> WithSeed(int seed)
        => Estimate is { } e ? new(Kind, InputDimension, _factor, _signs, e with { Seed = seed })
                             : throw new InvalidOperationException("WithSeed applies to a stochastic operator; call Stochastic first.");

    /// <summary>R, the number of directions per point the operator's sum has.</summary>
    public int DirectionCount => Estimate is { } e
        ? (Kind == PdeOperatorKind.WeightedLaplacian && _signs!.Any(s => s > T.Zero) && _signs!.Any(s => s < T.Zero) ? 2 * e.Directions : e.Directions)
        : Kind switch
        {
            PdeOperatorKind.Laplacian => InputDimension,
            PdeOperatorKind.WeightedLaplacian => _signs!.Length,
            _ => InputDimension * InputDimension,
        };

    /// <summary>Whether the first D directions are the unit vectors e_1..e_D (then the first coefficients are the gradient).</summary>
    internal bool LeadsWithUnitDirections => Estimate is null && Kind is PdeOperatorKind.Laplacian or PdeOperatorKind.Biharmonic;

    /// <summary>
    /// The directions [R, N, D] for <paramref name="n"/> points starting at point <paramref name="first"/> of the
    /// stream, and the weights w_r of the sum.
    /// </summary>
    internal (Tensor<T> Directions, T[] Weights) Directions(int first, int n)
    {
        int d = InputDimension, r = DirectionCount;
        var dirs = Tensor<T>.Zeros(r, n, d);
        var span = dirs.Span;
        if (Estimate is null)
        {
            var (basis, exactWeights) = ExactDirections();
            for (int c = 0; c < r; c++)
                for (int p = 0; p < n; p++) basis.AsSpan(c * d, d).CopyTo(span.Slice((c * n + p) * d, d));
            return (dirs, exactWeights);
        }
        return (dirs, StochasticDirections(first, n, span));
    }

    /// <summary>
    /// For the exact biharmonic, M [R, D] with v_r = sum_i M[r, i] e_i (rows e_i, e_i + e_j, e_i - e_j): its first-order
    /// coefficients are those of the D unit directions combined by M (z_1 = J v is linear in v), which collapsed Taylor
    /// mode propagates instead of R = D^2 (<see cref="Autodiff.Taylor.JetSpec{T}.FirstOrderMap"/>). Null otherwise (the
    /// Laplacians' directions are the basis already; random directions differ per point).
    /// </summary>
    internal Tensor<T>? SharedFirstOrder()
        => Kind == PdeOperatorKind.Biharmonic && Estimate is null ? Tensor<T>.FromArray(ExactDirections().Basis, DirectionCount, InputDimension) : null;

    /// <summary>The exact operator's directions (one per row, [R, D] row-major, the same at every point) and weights.</summary>
    private (T[] Basis, T[] Weights) ExactDirections()
    {
        int d = InputDimension, r = DirectionCount;
        var weights = new T[r];
        {
            var basis = new T[r * d]; // one direction per row, repeated for every point
            switch (Kind)
            {
                case PdeOperatorKind.Laplacian:
                    for (int i = 0; i < d; i++) { basis[i * d + i] = T.One; weights[i] = T.One; }
                    break;
                case PdeOperatorKind.WeightedLaplacian:
                    var s = _factor!.Span;
                    for (int c = 0; c < r; c++) { for (int i = 0; i < d; i++) basis[c * d + i] = s[i * r + c]; weights[c] = _signs![c]; }
                    break;
                default:
                    int q = 0;
                    for (int i = 0; i < d; i++, q++) { basis[q * d + i] = T.One; weights[q] = T.One - T.CreateTruncating(d - 1) / T.CreateTruncating(3); }
                    var sixth = T.One / T.CreateTruncating(6);
                    for (int i = 0; i < d; i++)
                        for (int j = i + 1; j < d; j++)
                        {
                            basis[q * d + i] = T.One; basis[q * d + j] = T.One; weights[q++] = sixth;
                            basis[q * d + i] = T.One; basis[q * d + j] = -T.One; weights[q++] = sixth;
                        }
                    break;
            }
            return (basis, weights);
        }
    }

    /// <summary>Fills the random directions [R, n, D] of points first .. first + n - 1 and returns the weights.</summary>
    private T[] StochasticDirections(int first, int n, Span<T> span)
    {
        int d = InputDimension;
        var weights = new T[DirectionCount];
        var e = Estimate!;
        // Groups of directions: (columns of the map z -> v, weight). Laplacian and biharmonic: v = z.
        var groups = new List<(int[]? Columns, T Weight)>();
        T inv = T.One / T.CreateTruncating(e.Directions);
        if (Kind == PdeOperatorKind.WeightedLaplacian)
        {
            var pos = Enumerable.Range(0, _signs!.Length).Where(c => _signs[c] > T.Zero).ToArray();
            var neg = Enumerable.Range(0, _signs.Length).Where(c => _signs[c] < T.Zero).ToArray();
            if (pos.Length > 0) groups.Add((pos, inv));
            if (neg.Length > 0) groups.Add((neg, -inv));
        }
        else groups.Add((null, Kind == PdeOperatorKind.Biharmonic ? inv / T.CreateTruncating(3) : inv));

        // One stream per point (seeded from the seed and the point's index), so chunks draw what the whole batch would.
        for (int p = 0; p < n; p++)
        {
            var rng = new Random(PointSeed(e.Seed, first + p));
            int c = 0;
            foreach (var (columns, weight) in groups)
                for (int k = 0; k < e.Directions; k++, c++)
                {
                    weights[c] = weight;
                    var v = span.Slice((c * n + p) * d, d);
                    if (columns is null) { for (int i = 0; i < d; i++) v[i] = Draw(rng, e.Distribution); continue; }
                    var sf = _factor!.Span;
                    int rank = _signs!.Length;
                    foreach (var col in columns)
                    {
                        T zc = Draw(rng, e.Distribution);
                        for (int i = 0; i < d; i++) v[i] += sf[i * rank + col] * zc;
                    }
                }
        }
        return weights;
    }

    /// <summary>A deterministic 32-bit seed for one point (SplitMix64 finaliser of seed and index).</summary>
    private static int PointSeed(int seed, long point)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)point + 0x632BE59BD9B4E019UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return unchecked((int)(z ^ (z >> 31)));
    }

    private static T Draw(Random rng, DirectionDistribution distribution)
    {
        if (distribution == DirectionDistribution.Rademacher) return rng.Next(2) == 0 ? -T.One : T.One;
        // Box-Muller (one variate per call keeps the stream position a simple count).
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return T.CreateTruncating(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
    }

    private static int CheckDimension(int d)
        => d >= 1 ? d : throw new ArgumentOutOfRangeException(nameof(d), $"The input dimension D must be at least 1, got {d}.");

    /// <inheritdoc/>
    public override string ToString()
        => $"{Kind}(D = {InputDimension}{(Estimate is { } e ? $", stochastic R = {e.Directions} {e.Distribution}, seed {e.Seed}" : ", exact")})";
}

using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// The Kronecker product A ⊗ B of dense factors A [p, q] and B [r, s], a [p·r, q·s] operator that is
/// never formed: (A ⊗ B)[a·r + b, i·s + j] = A[a, i] B[b, j].
/// </summary>
/// <remarks>
/// Row-major vec convention: for X of shape [q, s] flattened row-major (vec(X)[i·s + j] = X[i, j]),
/// (A ⊗ B) vec(X) = vec(A X Bᵀ), which is [p, r] flattened row-major. This is the convention of
/// KFAC for a weight W [out, in]: G ⊗ A acts on vec(W) as G V Aᵀ. The default spaces are therefore
/// one block of shape [q, s] (input) and [p, r] (output). A product costs two GEMMs per batch of
/// columns (O(K (p q s + p r s)) flops) instead of O(K p q r s).
/// </remarks>
public sealed class KroneckerOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _a, _b;
    private readonly int _p, _q, _r, _s;

    /// <summary>A ⊗ B with the factors copied.</summary>
    /// <param name="a">First factor A, [p, q].</param>
    /// <param name="b">Second factor B, [r, s].</param>
    /// <param name="outputSpace">Codomain of dimension p·r (default one block [p, r]).</param>
    /// <param name="inputSpace">Domain of dimension q·s (default one block [q, s]).</param>
    /// <param name="isSymmetric">Unchecked promise that A and B are symmetric (then A ⊗ B is).</param>
    /// <param name="isPositiveSemiDefinite">Unchecked promise that A and B are symmetric PSD (then A ⊗ B is).</param>
    /// <exception cref="ArgumentException">A factor is not a matrix, or a space's dimension is wrong.</exception>
    public KroneckerOperator(Tensor<T> a, Tensor<T> b, Space? outputSpace = null, Space? inputSpace = null,
        bool isSymmetric = false, bool isPositiveSemiDefinite = false)
        : this(Factor(a, nameof(a)), Factor(b, nameof(b)), a.Shape[0], a.Shape[1], b.Shape[0], b.Shape[1],
               SpaceFor(outputSpace, a.Shape[0], b.Shape[0], a, b, "output"),
               SpaceFor(inputSpace, a.Shape[1], b.Shape[1], a, b, "input"),
               isSymmetric, isPositiveSemiDefinite) { }

    private KroneckerOperator(T[] a, T[] b, int p, int q, int r, int s, Space output, Space input, bool sym, bool psd)
        : base(output, input, sym, psd)
    {
        _a = a; _b = b;
        _p = p; _q = q; _r = r; _s = s;
    }

    private static T[] Factor(Tensor<T> f, string name)
    {
        ArgumentNullException.ThrowIfNull(f, name);
        if (f.Rank != 2)
            throw new ArgumentException($"A Kronecker factor must be a matrix, but {name} has shape {Shape.Format(f.Shape)}.", name);
        return f.ToArray();
    }

    private static Space SpaceFor(Space? space, int da, int db, Tensor<T> a, Tensor<T> b, string which)
    {
        if (space is null) return new Space([da, db]);
        if (space.Dimension != da * db)
            throw new ArgumentException(
                $"The factors {Shape.Format(a.Shape)} ⊗ {Shape.Format(b.Shape)} need an {which} space of dimension {da} * {db} = {da * db}, but {space} has dimension {space.Dimension}.",
                which == "output" ? "outputSpace" : "inputSpace");
        return space;
    }

    /// <summary>Copies of the factors A [p, q] and B [r, s].</summary>
    public (Tensor<T> A, Tensor<T> B) GetFactors()
        => (Tensor<T>.FromArray((T[])_a.Clone(), _p, _q), Tensor<T>.FromArray((T[])_b.Clone(), _r, _s));

    /// <summary>
    /// Y = (A ⊗ B) X for X [q·s, K]: viewing X as [q, s, K], W = A·X over the first axis ([p, s, K], one
    /// GEMM), then Y[a, b, k] = Σ_j B[b, j] W[a, j, k] (one GEMM after swapping the two leading axes).
    /// For K = 1 the second step is W Bᵀ with no copy.
    /// </summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int k = x.Shape[1];
        // W [p, s·K] = A [p, q] · X [q, s·K]
        var w = Kernels.Gemm<T>(_a, _p, _q, false, x.Span, _q, _s * k, false);
        if (k == 1)
            return Kernels.Gemm<T>(w.Span, _p, _s, false, _b, _r, _s, true).Reshape(_p * _r, 1); // W Bᵀ: [p, r]
        var wt = Tensor<T>.Uninitialized(_s, _p * k);           // [s, p, K]
        Kernels.SwapLeadingAxes<T>(w.Span, _p, _s, k, wt.Span);
        var z = Kernels.Gemm<T>(_b, _r, _s, false, wt.Span, _s, _p * k, false); // [r, p, K]
        var y = Tensor<T>.Uninitialized(_p * _r, k);            // [p, r, K]
        Kernels.SwapLeadingAxes<T>(z.Span, _r, _p, k, y.Span);
        return y;
    }

    /// <summary>(A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ.</summary>
    protected override LinearOperator<T> TransposeCore()
        => new KroneckerOperator<T>(Kernels.Transpose<T>(_a, _p, _q).ToArray(), Kernels.Transpose<T>(_b, _r, _s).ToArray(),
            _q, _p, _s, _r, InputSpace, OutputSpace, IsSymmetric, IsPositiveSemiDefinite);

    /// <summary>The explicit product, D[a·r + b, i·s + j] = A[a, i] B[b, j].</summary>
    protected override Tensor<T> ToDenseCore()
    {
        var d = Tensor<T>.Uninitialized(Rows, Columns);
        var ds = d.Span;
        for (int a = 0; a < _p; a++)
            for (int b = 0; b < _r; b++)
            {
                var row = ds.Slice((a * _r + b) * Columns, Columns);
                for (int i = 0; i < _q; i++)
                    Kernels.Scale(_b.AsSpan(b * _s, _s), _a[a * _q + i], row.Slice(i * _s, _s));
            }
        return d;
    }

    /// <summary>α (A ⊗ B) = (α A) ⊗ B.</summary>
    protected override LinearOperator<T>? TryScale(T alpha)
    {
        var a = new T[_a.Length];
        Kernels.Scale(_a, alpha, a);
        return new KroneckerOperator<T>(a, _b, _p, _q, _r, _s, OutputSpace, InputSpace,
            IsSymmetric, IsPositiveSemiDefinite && alpha >= T.Zero);
    }

    /// <summary>(A ⊗ B)(C ⊗ D) = (A C) ⊗ (B D) when the factor shapes chain.</summary>
    protected override LinearOperator<T>? TryCompose(LinearOperator<T> inner)
    {
        if (inner is not KroneckerOperator<T> o || o._p != _q || o._r != _s) return null;
        var ac = Kernels.Gemm<T>(_a, _p, _q, false, o._a, o._p, o._q, false);
        var bd = Kernels.Gemm<T>(_b, _r, _s, false, o._b, o._r, o._s, false);
        return new KroneckerOperator<T>(ac.ToArray(), bd.ToArray(), _p, o._q, _r, o._s, OutputSpace, o.InputSpace, false, false);
    }

    /// <summary>tr(A ⊗ B) = tr(A) · tr(B), for square factors; accumulated in double.</summary>
    /// <exception cref="InvalidOperationException">A factor is not square.</exception>
    public T Trace()
    {
        RequireSquareFactors("trace");
        return T.CreateTruncating(Kernels.Trace<T>(_a, _p) * Kernels.Trace<T>(_b, _r));
    }

    /// <summary>‖A ⊗ B‖_F = ‖A‖_F · ‖B‖_F, accumulated in double.</summary>
    public T FrobeniusNorm() => T.CreateTruncating(Kernels.FrobeniusNorm<T>(_a) * Kernels.FrobeniusNorm<T>(_b));

    /// <summary>
    /// Sign and log|det| of A ⊗ B for square factors A [n_A, n_A], B [n_B, n_B]:
    /// log|det(A ⊗ B)| = n_B log|det A| + n_A log|det B| and sign = sign(det A)^n_B · sign(det B)^n_A.
    /// The factor determinants come from LU with partial pivoting in double. A singular factor gives
    /// (0, −∞).
    /// </summary>
    /// <exception cref="InvalidOperationException">A factor is not square.</exception>
    public (int Sign, T LogAbsDeterminant) SignAndLogDeterminant()
    {
        RequireSquareFactors("log-determinant");
        if (_p == 0 || _r == 0) return (1, T.Zero); // the empty matrix has determinant 1
        var (sa, la) = Kernels.SignLogDet<T>(_a, _p);
        var (sb, lb) = Kernels.SignLogDet<T>(_b, _r);
        if (double.IsNaN(la) || double.IsNaN(lb)) return (0, T.NaN);
        if (sa == 0 || sb == 0) return (0, T.NegativeInfinity);
        int sign = (sa < 0 && _r % 2 == 1 ? -1 : 1) * (sb < 0 && _p % 2 == 1 ? -1 : 1);
        return (sign, T.CreateTruncating(_r * la + _p * lb));
    }

    /// <summary>
    /// log det(A ⊗ B) = n_B log det A + n_A log det B for square factors: −∞ when a factor is singular,
    /// NaN when the determinant is negative (as torch.logdet); see <see cref="SignAndLogDeterminant"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A factor is not square.</exception>
    public T LogDeterminant()
    {
        var (sign, logAbs) = SignAndLogDeterminant();
        return sign < 0 ? T.NaN : logAbs;
    }

    private void RequireSquareFactors(string what)
    {
        if (_p != _q || _r != _s)
            throw new InvalidOperationException(
                $"The {what} of a Kronecker product needs square factors, but they are [{_p}, {_q}] and [{_r}, {_s}].");
    }
}

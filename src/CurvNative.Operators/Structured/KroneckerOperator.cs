using System.Numerics;
using CurvNative.Kernels;
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
/// columns (O(K (p q s + p r s)) flops) instead of O(K p q r s). With square factors the product runs through
/// <see cref="IKernelBackend.KroneckerMatmat{T}"/> of the operator's backend, with both factors resident there from
/// construction to <see cref="Dispose"/> (on a host backend the resident buffer is the factor array itself).
/// </remarks>
public sealed class KroneckerOperator<T> : LinearOperator<T>, IExactFunctionals, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _a, _b;
    private readonly int _p, _q, _r, _s;
    private readonly IKernelBackend _backend;
    private readonly KernelBuffer<T>? _da, _db;
    private bool _disposed;

    /// <summary>A ⊗ B with the factors copied.</summary>
    /// <param name="a">First factor A, [p, q].</param>
    /// <param name="b">Second factor B, [r, s].</param>
    /// <param name="outputSpace">Codomain of dimension p·r (default one block [p, r]).</param>
    /// <param name="inputSpace">Domain of dimension q·s (default one block [q, s]).</param>
    /// <param name="isSymmetric">Unchecked promise that A and B are symmetric (then A ⊗ B is).</param>
    /// <param name="isPositiveSemiDefinite">Unchecked promise that A and B are symmetric PSD (then A ⊗ B is).</param>
    /// <param name="backend">The kernel backend of the products (null: <see cref="KernelBackends.Default"/>); not owned.</param>
    /// <exception cref="ArgumentException">A factor is not a matrix, or a space's dimension is wrong.</exception>
    public KroneckerOperator(Tensor<T> a, Tensor<T> b, Space? outputSpace = null, Space? inputSpace = null,
        bool isSymmetric = false, bool isPositiveSemiDefinite = false, IKernelBackend? backend = null)
        : this(Factor(a, nameof(a)), Factor(b, nameof(b)), a.Shape[0], a.Shape[1], b.Shape[0], b.Shape[1],
               SpaceFor(outputSpace, a.Shape[0], b.Shape[0], a, b, "output"),
               SpaceFor(inputSpace, a.Shape[1], b.Shape[1], a, b, "input"),
               isSymmetric, isPositiveSemiDefinite, KernelBackends.OrDefault(backend), null) { }

    private KroneckerOperator(T[] a, T[] b, int p, int q, int r, int s, Space output, Space input, bool sym, bool psd, IKernelBackend backend, string? label)
        : base(output, input, sym, psd)
    {
        _a = a; _b = b;
        _p = p; _q = q; _r = r; _s = s;
        _backend = backend;
        Label = label ?? Describe();
        if (p == q && r == s && p > 0 && r > 0)
        {
            _da = KernelBackends.Resident(backend, a, 0, a.Length);
            _db = KernelBackends.Resident(backend, b, 0, b.Length);
        }
    }

    /// <summary>
    /// The symmetric Kronecker block of a curvature operator over square factors that are not copied (the caller
    /// hands them over and does not change them): KFAC's G ⊗ A. <paramref name="label"/> names the block in errors.
    /// </summary>
    internal static KroneckerOperator<T> Symmetric(Tensor<T> a, Tensor<T> b, Space space, bool psd, IKernelBackend backend, string label)
        => new(Own(a), Own(b), a.Shape[0], a.Shape[0], b.Shape[0], b.Shape[0], space, space, true, psd, backend, label);

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

    private static T[] Own(Tensor<T> f) => f.Offset == 0 && f.Buffer.Length == f.Length ? f.Buffer : f.ToArray();

    /// <summary>What the block is called in error messages.</summary>
    internal string Label { get; }

    /// <summary>The backend the products run on.</summary>
    public IKernelBackend Backend => _backend;

    /// <summary>Releases the factors' resident buffers; products afterwards throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _da?.Dispose();
        _db?.Dispose();
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
        ObjectDisposedException.ThrowIf(_disposed, this);
        // A symmetric B is handed over as Bᵀ (the same matrix): the host backends then multiply X B untransposed, which
        // OpenBLAS runs ~6-10% faster than X Bᵀ for the CNN's 10 x 2048 by 2048 x 2048 block (benchmarks/results/kfac-seam-1.md).
        if (_da is not null) return KroneckerAlgebra.Apply(_backend, _p, _r, _da, false, _db!, IsSymmetric, x);
        int k = x.Shape[1];
        // W [p, s·K] = A [p, q] · X [q, s·K]
        var w = DenseKernels.MatMulTensor<T>(_a, _p, _q, false, x.Span, _q, _s * k, false);
        if (k == 1)
            return DenseKernels.MatMulTensor<T>(w.Span, _p, _s, false, _b, _r, _s, true).Reshape(_p * _r, 1); // W Bᵀ: [p, r]
        var wt = Tensor<T>.Uninitialized(_s, _p * k);           // [s, p, K]
        DenseKernels.SwapLeadingAxes<T>(w.Span, _p, _s, k, wt.Span);
        var z = DenseKernels.MatMulTensor<T>(_b, _r, _s, false, wt.Span, _s, _p * k, false); // [r, p, K]
        var y = Tensor<T>.Uninitialized(_p * _r, k);            // [p, r, K]
        DenseKernels.SwapLeadingAxes<T>(z.Span, _r, _p, k, y.Span);
        return y;
    }

    /// <summary>(A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ.</summary>
    protected override LinearOperator<T> TransposeCore()
        => new KroneckerOperator<T>(DenseKernels.Transpose<T>(_a, _p, _q).ToArray(), DenseKernels.Transpose<T>(_b, _r, _s).ToArray(),
            _q, _p, _s, _r, InputSpace, OutputSpace, IsSymmetric, IsPositiveSemiDefinite, _backend, null);

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
                    DenseKernels.Scale(_b.AsSpan(b * _s, _s), _a[a * _q + i], row.Slice(i * _s, _s));
            }
        return d;
    }

    /// <summary>α (A ⊗ B) = (α A) ⊗ B.</summary>
    protected override LinearOperator<T>? TryScale(T alpha)
    {
        var a = new T[_a.Length];
        DenseKernels.Scale(_a, alpha, a);
        return new KroneckerOperator<T>(a, _b, _p, _q, _r, _s, OutputSpace, InputSpace,
            IsSymmetric, IsPositiveSemiDefinite && alpha >= T.Zero, _backend, null);
    }

    /// <summary>(A ⊗ B)(C ⊗ D) = (A C) ⊗ (B D) when the factor shapes chain.</summary>
    protected override LinearOperator<T>? TryCompose(LinearOperator<T> inner)
    {
        if (inner is not KroneckerOperator<T> o || o._p != _q || o._r != _s) return null;
        var ac = DenseKernels.MatMulTensor<T>(_a, _p, _q, false, o._a, o._p, o._q, false);
        var bd = DenseKernels.MatMulTensor<T>(_b, _r, _s, false, o._b, o._r, o._s, false);
        return new KroneckerOperator<T>(ac.ToArray(), bd.ToArray(), _p, o._q, _r, o._s, OutputSpace, o.InputSpace, false, false, _backend, null);
    }

    /// <summary>tr(A ⊗ B) = tr(A) · tr(B), for square factors; accumulated in double.</summary>
    /// <exception cref="InvalidOperationException">A factor is not square.</exception>
    public T Trace()
    {
        RequireSquareFactors("trace");
        return T.CreateTruncating(DenseKernels.Trace<T>(_a, _p) * DenseKernels.Trace<T>(_b, _r));
    }

    /// <summary>‖A ⊗ B‖_F = ‖A‖_F · ‖B‖_F, accumulated in double.</summary>
    public T FrobeniusNorm() => T.CreateTruncating(DenseKernels.FrobeniusNorm<T>(_a) * DenseKernels.FrobeniusNorm<T>(_b));

    /// <summary>
    /// Sign and log|det| of A ⊗ B for square factors A [n_A, n_A], B [n_B, n_B]:
    /// log|det(A ⊗ B)| = n_B log|det A| + n_A log|det B| and sign = sign(det A)^n_B · sign(det B)^n_A.
    /// The factor determinants come from LU with partial pivoting in double, or, for an operator promised positive
    /// semi-definite, from the factors' eigenvalues in double (an eigenvalue at or below n ε max|λ| counts as zero).
    /// A singular factor gives (0, −∞).
    /// </summary>
    /// <exception cref="InvalidOperationException">A factor is not square.</exception>
    public (int Sign, T LogAbsDeterminant) SignAndLogDeterminant()
    {
        var (sign, logAbs) = SignAndLogDeterminantInDouble();
        return (sign, T.CreateTruncating(logAbs));
    }

    private (int Sign, double LogAbs) SignAndLogDeterminantInDouble()
    {
        RequireSquareFactors("log-determinant");
        if (_p == 0 || _r == 0) return (1, 0); // the empty matrix has determinant 1
        if (IsPositiveSemiDefinite)
        {
            double ea = KroneckerAlgebra.SymmetricLogDet<T>(_a, _p), eb = KroneckerAlgebra.SymmetricLogDet<T>(_b, _r);
            if (double.IsNegativeInfinity(ea) || double.IsNegativeInfinity(eb)) return (0, double.NegativeInfinity);
            return (1, _r * ea + _p * eb);
        }
        var (sa, la) = DenseKernels.SignLogDet<T>(_a, _p);
        var (sb, lb) = DenseKernels.SignLogDet<T>(_b, _r);
        if (double.IsNaN(la) || double.IsNaN(lb)) return (0, double.NaN);
        if (sa == 0 || sb == 0) return (0, double.NegativeInfinity);
        int sign = (sa < 0 && _r % 2 == 1 ? -1 : 1) * (sb < 0 && _p % 2 == 1 ? -1 : 1);
        return (sign, _r * la + _p * lb);
    }

    double IExactFunctionals.TraceInDouble()
    {
        RequireSquareFactors("trace");
        return DenseKernels.Trace<T>(_a, _p) * DenseKernels.Trace<T>(_b, _r);
    }

    double IExactFunctionals.FrobeniusSquaredInDouble()
    {
        double f = DenseKernels.FrobeniusNorm<T>(_a) * DenseKernels.FrobeniusNorm<T>(_b);
        return f * f;
    }

    double IExactFunctionals.LogDeterminantInDouble()
    {
        var (sign, logAbs) = SignAndLogDeterminantInDouble();
        return sign < 0 ? double.NaN : logAbs;
    }

    // ------------------------------------------------------------------ damped inverses

    /// <summary>The factors' eigendecompositions A = Q_A diag(w_A) Q_Aᵀ, B = Q_B diag(w_B) Q_Bᵀ (syevd).</summary>
    internal ((Tensor<T> Q, double[] W) A, (Tensor<T> Q, double[] W) B) Eigen()
    {
        RequireSymmetric("damped inverse");
        return (KroneckerAlgebra.Eigh(Tensor<T>.FromArray(_a, _p, _p)), KroneckerAlgebra.Eigh(Tensor<T>.FromArray(_b, _r, _r)));
    }

    /// <summary>
    /// (A + d_A I)⁻¹ ⊗ (B + d_B I)⁻¹ for symmetric factors, exactly, as a Kronecker-eigenbasis operator
    /// (Q_A ⊗ Q_B) diag(1 / ((w_A + d_A) ⊗ (w_B + d_B))) (Q_A ⊗ Q_B)ᵀ on the same backend (KFAC's Tikhonov damping).
    /// </summary>
    /// <exception cref="SingularOperatorException">A damped eigenvalue product is at or below n ε times the largest.</exception>
    public KroneckerEigenOperator<T> DampedInverse(double dampingA, double dampingB)
    {
        KroneckerAlgebra.CheckDamping(dampingA, nameof(dampingA));
        KroneckerAlgebra.CheckDamping(dampingB, nameof(dampingB));
        return DampedInverse(Eigen(), dampingA, dampingB, exact: false, Math.Max(dampingA, dampingB));
    }

    /// <summary>(A ⊗ B + λ I)⁻¹ for symmetric factors, exactly, through the factors' eigendecompositions:
    /// (Q_A ⊗ Q_B) diag(1 / (w_A ⊗ w_B + λ)) (Q_A ⊗ Q_B)ᵀ.</summary>
    /// <exception cref="SingularOperatorException">A damped eigenvalue is at or below n ε times the largest.</exception>
    public KroneckerEigenOperator<T> ExactDampedInverse(double damping)
    {
        KroneckerAlgebra.CheckDamping(damping);
        return DampedInverse(Eigen(), damping, damping, exact: true, damping);
    }

    /// <summary>The damped inverse from eigendecompositions already computed: per-factor damping
    /// (w_A + d_A)(w_B + d_B), or with <paramref name="exact"/> w_A w_B + d_A.</summary>
    internal KroneckerEigenOperator<T> DampedInverse(((Tensor<T> Q, double[] W) A, (Tensor<T> Q, double[] W) B) eig, double dA, double dB, bool exact, double reported)
    {
        var (wa, wb) = (eig.A.W, eig.B.W);
        var denominators = new double[wa.Length * wb.Length];
        for (int i = 0; i < wa.Length; i++)
            for (int j = 0; j < wb.Length; j++)
                denominators[i * wb.Length + j] = exact ? wa[i] * wb[j] + dA : (wa[i] + dA) * (wb[j] + dB);
        var lambda = KroneckerAlgebra.InverseEigenvalues<T>(denominators, [wa.Length, wb.Length], Math.Max(wa.Length, wb.Length), Label, reported);
        return KroneckerEigenOperator<T>.Create(eig.A.Q, eig.B.Q, lambda, InputSpace, _backend, Label);
    }

    private void RequireSymmetric(string what)
    {
        RequireSquareFactors(what);
        if (!IsSymmetric)
            throw new InvalidOperationException($"The {what} of a Kronecker product is computed in the factors' eigenbases and needs symmetric factors; construct the operator with isSymmetric: true.");
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

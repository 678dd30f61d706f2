using System.Numerics;
using CurvNative.Kernels;
using CurvNative.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace CurvNative.Operators;

/// <summary>
/// A symmetric operator diagonal in a Kronecker eigenbasis: (Q_A ⊗ Q_B) diag(vec Λ) (Q_A ⊗ Q_B)ᵀ for orthogonal
/// Q_A [n_A, n_A], Q_B [n_B, n_B] and Λ [n_A, n_B]; in the row-major vec convention of
/// <see cref="KroneckerOperator{T}"/> it maps V [n_A, n_B] to Q_A ((Q_Aᵀ V Q_B) ∘ Λ) Q_Bᵀ. EKFAC's blocks
/// (George et al. 2018) and the damped inverses of KFAC and EKFAC blocks are such operators. Both rotations run
/// through <see cref="IKernelBackend.KroneckerMatmat{T}"/> with the eigenbases resident on the backend from construction
/// to <see cref="Dispose"/>.
/// </summary>
public sealed class KroneckerEigenOperator<T> : LinearOperator<T>, IExactFunctionals, IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _qa, _qb, _lambda;
    private readonly IKernelBackend _backend;
    private readonly KernelBuffer<T> _da, _db;
    private bool _disposed;

    /// <summary>(Q_A ⊗ Q_B) diag(vec Λ) (Q_A ⊗ Q_B)ᵀ with the arguments copied; Q_A and Q_B must be orthogonal (unchecked).</summary>
    /// <param name="qa">Eigenbasis Q_A [n_A, n_A], eigenvectors as columns.</param>
    /// <param name="qb">Eigenbasis Q_B [n_B, n_B], eigenvectors as columns.</param>
    /// <param name="lambda">Eigenvalues Λ [n_A, n_B] (or any shape with n_A n_B elements, read row-major).</param>
    /// <param name="space">The operator's space, of dimension n_A n_B (default one block [n_A, n_B]).</param>
    /// <param name="backend">The kernel backend of the products (null: <see cref="KernelBackends.Default"/>); not owned.</param>
    /// <exception cref="ArgumentException">A basis is not square, Λ has the wrong size, or the space the wrong dimension.</exception>
    public KroneckerEigenOperator(Tensor<T> qa, Tensor<T> qb, Tensor<T> lambda, Space? space = null, IKernelBackend? backend = null)
        : this(Checked(qa, qb, lambda, nameof(qa)).Clone(), qb.Clone(), lambda.Clone(), SpaceFor(space, qa, qb), KernelBackends.OrDefault(backend), null) { }

    private KroneckerEigenOperator(Tensor<T> qa, Tensor<T> qb, Tensor<T> lambda, Space space, IKernelBackend backend, string? label)
        : base(space, space, isSymmetric: true, isPositiveSemiDefinite: NonNegative(lambda))
    {
        _qa = qa; _qb = qb; _lambda = lambda;
        _backend = backend;
        Label = label ?? Describe();
        _da = KroneckerAlgebra.Resident(backend, qa);
        _db = KroneckerAlgebra.Resident(backend, qb);
    }

    /// <summary>Takes the tensors over without copying (they are the caller's no longer).</summary>
    internal static KroneckerEigenOperator<T> Create(Tensor<T> qa, Tensor<T> qb, Tensor<T> lambda, Space space, IKernelBackend backend, string label)
        => new(qa, qb, lambda, space, backend, label);

    private static Tensor<T> Checked(Tensor<T> qa, Tensor<T> qb, Tensor<T> lambda, string name)
    {
        ArgumentNullException.ThrowIfNull(qa);
        ArgumentNullException.ThrowIfNull(qb);
        ArgumentNullException.ThrowIfNull(lambda);
        if (qa.Rank != 2 || qa.Shape[0] != qa.Shape[1] || qb.Rank != 2 || qb.Shape[0] != qb.Shape[1])
            throw new ArgumentException($"The eigenbases must be square matrices, got {Shape.Format(qa.Shape)} and {Shape.Format(qb.Shape)}.", name);
        if (lambda.Length != qa.Shape[0] * qb.Shape[0])
            throw new ArgumentException($"The eigenvalues must have {qa.Shape[0]} x {qb.Shape[0]} = {qa.Shape[0] * qb.Shape[0]} elements, got shape {Shape.Format(lambda.Shape)}.", nameof(lambda));
        return qa;
    }

    private static Space SpaceFor(Space? space, Tensor<T> qa, Tensor<T> qb)
    {
        int na = qa.Shape[0], nb = qb.Shape[0];
        if (space is null) return new Space([na, nb]);
        if (space.Dimension != na * nb)
            throw new ArgumentException($"The eigenbases [{na}, {na}] and [{nb}, {nb}] need a space of dimension {na * nb}, but {space} has dimension {space.Dimension}.", nameof(space));
        return space;
    }

    private static bool NonNegative(Tensor<T> t)
    {
        foreach (var v in t.Span) if (!(v >= T.Zero)) return false;
        return true;
    }

    /// <summary>What the block is called in error messages.</summary>
    internal string Label { get; }

    /// <summary>The eigenbasis Q_A (the operator's own tensor: do not modify).</summary>
    internal Tensor<T> QA => _qa;
    /// <summary>The eigenbasis Q_B (the operator's own tensor: do not modify).</summary>
    internal Tensor<T> QB => _qb;
    /// <summary>The eigenvalues Λ (the operator's own tensor: do not modify).</summary>
    internal Tensor<T> Lambda => _lambda;

    /// <summary>The backend the products run on.</summary>
    public IKernelBackend Backend => _backend;

    /// <summary>Copies of Q_A, Q_B and Λ.</summary>
    public (Tensor<T> QA, Tensor<T> QB, Tensor<T> Lambda) GetFactors() => (_qa.Clone(), _qb.Clone(), _lambda.Clone());

    /// <summary>Rotate into the eigenbasis (Q_Aᵀ V Q_B), scale by Λ, rotate back.</summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int na = _qa.Shape[0], nb = _qb.Shape[0], n = na * nb, k = x.Shape[1];
        var t = KroneckerAlgebra.Apply(_backend, na, nb, _da, true, _db, true, x);
        // t is [n, K]: row i scaled by Λ_i.
        var ts = t.Span; ReadOnlySpan<T> l = _lambda.Span;
        if (k == 1) TensorPrimitives.Multiply(ts, l, ts);
        else for (int i = 0; i < n; i++) TensorPrimitives.Multiply(ts.Slice(i * k, k), l[i], ts.Slice(i * k, k));
        return KroneckerAlgebra.Apply(_backend, na, nb, _da, false, _db, false, t);
    }

    /// <inheritdoc/>
    protected override LinearOperator<T> TransposeCore() => this;

    /// <summary>(Q diag(Λ) Qᵀ + λ I)⁻¹ = Q diag(1 / (Λ + λ)) Qᵀ, exact because Q is orthogonal.</summary>
    /// <exception cref="SingularOperatorException">A damped eigenvalue is at or below n ε times the largest
    /// (n the larger basis dimension).</exception>
    public KroneckerEigenOperator<T> DampedInverse(double damping)
    {
        KroneckerAlgebra.CheckDamping(damping);
        var damped = new double[_lambda.Length];
        var l = _lambda.Span;
        for (int i = 0; i < damped.Length; i++) damped[i] = double.CreateTruncating(l[i]) + damping;
        var inv = KroneckerAlgebra.InverseEigenvalues<T>(damped, _lambda.ShapeArray, Math.Max(_qa.Shape[0], _qb.Shape[0]), Label, damping);
        return new KroneckerEigenOperator<T>(_qa, _qb, inv, InputSpace, _backend, Label);
    }

    /// <summary>tr = Σ Λ, accumulated in double.</summary>
    public T Trace() => T.CreateTruncating(((IExactFunctionals)this).TraceInDouble());

    /// <summary>log det = Σ log Λ (−∞ when an eigenvalue is at or below n ε max|Λ|).</summary>
    public T LogDeterminant() => T.CreateTruncating(((IExactFunctionals)this).LogDeterminantInDouble());

    double IExactFunctionals.TraceInDouble()
    {
        double s = 0;
        foreach (var v in _lambda.Span) s += double.CreateTruncating(v);
        return s;
    }

    double IExactFunctionals.FrobeniusSquaredInDouble()
    {
        double s = 0;
        foreach (var v in _lambda.Span) { double d = double.CreateTruncating(v); s += d * d; }
        return s;
    }

    double IExactFunctionals.LogDeterminantInDouble()
    {
        var w = new double[_lambda.Length];
        var l = _lambda.Span;
        for (int i = 0; i < w.Length; i++) w[i] = double.CreateTruncating(l[i]);
        return KroneckerAlgebra.LogDetOfEigenvalues(w, w.Length);
    }

    /// <summary>Releases the eigenbases' resident buffers; products afterwards throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _da.Dispose();
        _db.Dispose();
    }
}

using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Operators;

/// <summary>
/// A matrix-free linear map A : <see cref="InputSpace"/> → <see cref="OutputSpace"/>, i.e. an
/// implicit matrix with <see cref="Rows"/> = dim(output) and <see cref="Columns"/> = dim(input).
/// </summary>
/// <remarks>
/// <para>
/// The primitive is <see cref="MatMat"/>: Y = A X for X of shape [Columns, K], row-major, each of the
/// K columns one vector of the input space (as scipy's and curvlinops' matmat). Everything else
/// (<see cref="MatVec(Tensor{T})"/>, <see cref="ToDense"/>, the algebra) is derived from it.
/// </para>
/// <para>
/// Operators are immutable values. Public methods validate their arguments and call the protected
/// <see cref="MatMatCore"/>/<see cref="TransposeCore"/>, which trust them. Implementations of
/// <see cref="MatMatCore"/> must not modify X and must return a new tensor that the caller owns.
/// </para>
/// <para>
/// <see cref="IsSymmetric"/> (A = Aᵀ) and <see cref="IsPositiveSemiDefinite"/> (A = Aᵀ and
/// xᵀ A x ≥ 0 for all x) are unchecked promises made at construction. PSD implies symmetric, and
/// either needs equal input and output spaces. They propagate through the algebra by this table:
/// <list type="table">
/// <item><term>Aᵀ</term><description>keeps both flags (a symmetric operator is its own transpose).</description></item>
/// <item><term>A + B, A − B</term><description>symmetric if both are; PSD if both terms are PSD (so A − B never is, since −B is not).</description></item>
/// <item><term>α A</term><description>keeps symmetric; keeps PSD only if α ≥ 0 (−A drops PSD).</description></item>
/// <item><term>A B</term><description>neither, except Aᵀ A, A Aᵀ (when one factor is known to be the
/// transpose of the other) and A A for symmetric A, which are symmetric PSD.</description></item>
/// <item><term>structured</term><description>each structured operator documents its own flags
/// (identity: both; diagonal: symmetric, PSD iff every entry ≥ 0; block diagonal: if every block is).</description></item>
/// </list>
/// </para>
/// </remarks>
public abstract class LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Elements per chunk of identity columns when <see cref="ToDense"/> goes through <see cref="MatMat"/>.</summary>
    private const int DenseChunkElements = 1 << 22;

    /// <summary>An operator from <paramref name="inputSpace"/> to <paramref name="outputSpace"/>.</summary>
    /// <param name="outputSpace">The codomain (rows).</param>
    /// <param name="inputSpace">The domain (columns).</param>
    /// <param name="isSymmetric">Promise that A = Aᵀ (unchecked).</param>
    /// <param name="isPositiveSemiDefinite">Promise that A = Aᵀ and xᵀ A x ≥ 0 (unchecked); implies symmetric.</param>
    /// <exception cref="ArgumentException">A symmetric or PSD promise with different input and output spaces.</exception>
    protected LinearOperator(Space outputSpace, Space inputSpace, bool isSymmetric = false, bool isPositiveSemiDefinite = false)
    {
        ArgumentNullException.ThrowIfNull(outputSpace);
        ArgumentNullException.ThrowIfNull(inputSpace);
        if ((isSymmetric || isPositiveSemiDefinite) && outputSpace != inputSpace)
            throw new ArgumentException(
                $"A symmetric or positive semi-definite operator needs equal input and output spaces, but the input space is {inputSpace} and the output space is {outputSpace}.",
                isPositiveSemiDefinite ? nameof(isPositiveSemiDefinite) : nameof(isSymmetric));
        OutputSpace = outputSpace;
        InputSpace = inputSpace;
        IsSymmetric = isSymmetric || isPositiveSemiDefinite;
        IsPositiveSemiDefinite = isPositiveSemiDefinite;
    }

    /// <summary>The domain: X has <see cref="Columns"/> = InputSpace.Dimension rows.</summary>
    public Space InputSpace { get; }

    /// <summary>The codomain: A X has <see cref="Rows"/> = OutputSpace.Dimension rows.</summary>
    public Space OutputSpace { get; }

    /// <summary>Number of rows of the implicit matrix, dim(output).</summary>
    public int Rows => OutputSpace.Dimension;

    /// <summary>Number of columns of the implicit matrix, dim(input).</summary>
    public int Columns => InputSpace.Dimension;

    /// <summary>Promise (unchecked) that A = Aᵀ. Set at construction and propagated by the algebra.</summary>
    public bool IsSymmetric { get; }

    /// <summary>Promise (unchecked) that A = Aᵀ and xᵀ A x ≥ 0 for every x. Implies <see cref="IsSymmetric"/>.</summary>
    public bool IsPositiveSemiDefinite { get; }

    // ------------------------------------------------------------------ products

    /// <summary>
    /// Y = A X, where X is [Columns, K] row-major (column k is the k-th input vector) and Y is
    /// [Rows, K]: Y[i, k] = Σ_j A[i, j] X[j, k]. K = 0 is allowed; NaN and infinities propagate.
    /// </summary>
    /// <exception cref="ArgumentException">X is not of rank 2 with <see cref="Columns"/> rows; the message names the expected and the actual shape.</exception>
    public Tensor<T> MatMat(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 2 || x.Shape[0] != Columns)
            throw new ArgumentException(
                $"{Describe()}.MatMat: expected X of shape [{Columns}, K] (one column per vector of the input space {InputSpace}) but got shape {Shape.Format(x.Shape)}.",
                nameof(x));
        return Apply(x);
    }

    /// <summary>y = A x for a flat vector x of shape [Columns]; the result has shape [Rows]. Same as <see cref="MatMat"/> with K = 1.</summary>
    /// <exception cref="ArgumentException">x is not a vector of length <see cref="Columns"/>.</exception>
    public Tensor<T> MatVec(Tensor<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 1 || x.Shape[0] != Columns)
            throw new ArgumentException(
                $"{Describe()}.MatVec: expected x of shape [{Columns}] (a flat vector of the input space {InputSpace}) but got shape {Shape.Format(x.Shape)}.",
                nameof(x));
        return Apply(x.Reshape(Columns, 1)).Reshape(Rows);
    }

    /// <summary>
    /// y = A x with x given per block of <see cref="InputSpace"/> (each tensor of its block's shape);
    /// returns y per block of <see cref="OutputSpace"/>. Equal to Split(MatVec(Join(blocks))).
    /// </summary>
    /// <exception cref="ArgumentException">Wrong number of blocks or a block of the wrong shape.</exception>
    public Tensor<T>[] MatVec(IReadOnlyList<Tensor<T>> blocks)
        => OutputSpace.Split(MatVec(InputSpace.Join(blocks)));

    /// <summary>Trusted entry point for nodes of this assembly: X is known to be [Columns, K].</summary>
    internal Tensor<T> Apply(Tensor<T> x)
    {
        int k = x.Shape[1];
        if (k == 0 || Rows == 0 || Columns == 0) return Tensor<T>.Zeros(Rows, k);
        return CheckResult(MatMatCore(x), k, "MatMatCore");
    }

    /// <summary>Trusted Aᵀ X for X of shape [Rows, K]: used by the generic transpose node.</summary>
    internal Tensor<T> ApplyTranspose(Tensor<T> x)
    {
        int k = x.Shape[1];
        if (k == 0 || Rows == 0 || Columns == 0) return Tensor<T>.Zeros(Columns, k);
        var y = IsSymmetric ? MatMatCore(x) : TransposeMatMatCore(x);
        if (y.Rank != 2 || y.Shape[0] != Columns || y.Shape[1] != k)
            throw new InvalidOperationException(
                $"Bug in {GetType().Name}: TransposeMatMatCore returned shape {Shape.Format(y.Shape)} instead of [{Columns}, {k}].");
        return y;
    }

    /// <summary>
    /// Y = A X for X of shape [Columns, K] with K ≥ 1 and Rows, Columns ≥ 1 (already validated).
    /// Must not modify X; returns a new [Rows, K] tensor.
    /// </summary>
    protected abstract Tensor<T> MatMatCore(Tensor<T> x);

    /// <summary>
    /// Y = Aᵀ X for X of shape [Rows, K] (already validated), returning [Columns, K]: the product used
    /// by the default <see cref="TransposeCore"/>. Operators that override <see cref="TransposeCore"/>
    /// with a structured transpose, or are symmetric, need not override this.
    /// </summary>
    /// <exception cref="NotSupportedException">The operator has no transpose product.</exception>
    protected virtual Tensor<T> TransposeMatMatCore(Tensor<T> x)
        => throw new NotSupportedException(
            $"{Describe()} has no transpose product: override TransposeCore or TransposeMatMatCore.");

    private Tensor<T> CheckResult(Tensor<T> y, int k, string what)
    {
        if (y.Rank != 2 || y.Shape[0] != Rows || y.Shape[1] != k)
            throw new InvalidOperationException(
                $"Bug in {GetType().Name}: {what} returned shape {Shape.Format(y.Shape)} instead of [{Rows}, {k}].");
        return y;
    }

    // ------------------------------------------------------------------ transpose and materialisation

    /// <summary>Aᵀ : OutputSpace → InputSpace, with (Aᵀ)[j, i] = A[i, j]. A symmetric operator returns itself.</summary>
    public LinearOperator<T> Transpose()
    {
        if (IsSymmetric) return this;
        var t = TransposeCore();
        if (t.InputSpace != OutputSpace || t.OutputSpace != InputSpace)
            throw new InvalidOperationException(
                $"Bug in {GetType().Name}: the transpose maps {t.InputSpace} -> {t.OutputSpace} instead of {OutputSpace} -> {InputSpace}.");
        return t;
    }

    /// <summary>The adjoint A* with ⟨A x, y⟩ = ⟨x, A* y⟩; for real T it equals <see cref="Transpose"/>.</summary>
    public LinearOperator<T> Adjoint() => Transpose();

    /// <summary>
    /// The transpose as an operator (only called for non-symmetric operators). The default is a lazy
    /// node whose product is <see cref="TransposeMatMatCore"/>; structured operators return a structured transpose.
    /// </summary>
    protected virtual LinearOperator<T> TransposeCore() => new TransposedOperator<T>(this);

    /// <summary>
    /// The dense matrix D[i, j] = A[i, j] as a new [Rows, Columns] tensor. By default this applies
    /// <see cref="MatMat"/> to the identity in chunks of columns (at most about 4M elements at a time);
    /// structured operators build it exactly.
    /// </summary>
    /// <exception cref="InvalidOperationException">Rows × Columns exceeds the size of one tensor.</exception>
    public Tensor<T> ToDense()
    {
        if ((long)Rows * Columns > int.MaxValue)
            throw new InvalidOperationException(
                $"{Describe()} is {Rows} x {Columns}: too large ({(long)Rows * Columns} elements) to materialise as one tensor.");
        if (Rows == 0 || Columns == 0) return Tensor<T>.Zeros(Rows, Columns);
        var d = ToDenseCore();
        if (d.Rank != 2 || d.Shape[0] != Rows || d.Shape[1] != Columns)
            throw new InvalidOperationException(
                $"Bug in {GetType().Name}: ToDenseCore returned shape {Shape.Format(d.Shape)} instead of [{Rows}, {Columns}].");
        return d;
    }

    /// <summary>The dense matrix; Rows, Columns ≥ 1. Default: products with identity columns.</summary>
    protected virtual Tensor<T> ToDenseCore()
        => DenseByColumns(Math.Clamp(DenseChunkElements / Math.Max(Rows, Columns), 1, Columns));

    /// <summary>Dense matrix from products with <paramref name="chunk"/> identity columns at a time.</summary>
    internal Tensor<T> DenseByColumns(int chunk)
    {
        var dense = Tensor<T>.Zeros(Rows, Columns);
        if (Rows == 0 || Columns == 0) return dense;
        var d = dense.Span;
        for (int j0 = 0; j0 < Columns; j0 += chunk)
        {
            int k = Math.Min(chunk, Columns - j0);
            var eye = Tensor<T>.Zeros(Columns, k);
            var e = eye.Span;
            for (int c = 0; c < k; c++) e[(j0 + c) * k + c] = T.One;
            var y = Apply(eye).Span;
            for (int i = 0; i < Rows; i++) y.Slice(i * k, k).CopyTo(d.Slice(i * Columns + j0, k));
        }
        return dense;
    }

    // ------------------------------------------------------------------ algebra

    /// <summary>A + B: (A + B) x = A x + B x. Both operators must have the same input and the same output space.</summary>
    /// <exception cref="ArgumentException">The spaces differ; the message names both operators' spaces.</exception>
    public LinearOperator<T> Add(LinearOperator<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        CheckSameSpaces(other, "add");
        return TryAdd(other) ?? SumOperator<T>.Create(this, other);
    }

    /// <summary>A − B = A + (−1) B. Both operators must have the same spaces.</summary>
    /// <exception cref="ArgumentException">The spaces differ; the message names both operators' spaces.</exception>
    public LinearOperator<T> Subtract(LinearOperator<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        CheckSameSpaces(other, "subtract");
        return Add(other.Negate());
    }

    /// <summary>α A: (α A) x = α (A x). Scaling by 1 returns this operator.</summary>
    public LinearOperator<T> Scale(T alpha)
    {
        if (alpha == T.One) return this;
        return TryScale(alpha) ?? ScaledOperator<T>.Create(this, alpha);
    }

    /// <summary>−A = (−1) A.</summary>
    public LinearOperator<T> Negate() => Scale(-T.One);

    /// <summary>
    /// The composition A B (this operator applied after <paramref name="inner"/>): (A B) x = A (B x).
    /// Needs A.InputSpace = B.OutputSpace; the result maps B.InputSpace → A.OutputSpace.
    /// </summary>
    /// <exception cref="ArgumentException">A's input space differs from B's output space; the message names both.</exception>
    public LinearOperator<T> Compose(LinearOperator<T> inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (InputSpace != inner.OutputSpace)
            throw new ArgumentException(
                $"Cannot compose {Describe()} * {inner.Describe()}: the left operator's input space {InputSpace} differs from the right operator's output space {inner.OutputSpace}.",
                nameof(inner));
        if (this is IdentityOperator<T>) return inner;
        if (inner is IdentityOperator<T>) return this;
        return TryCompose(inner) ?? new ComposedOperator<T>(this, inner);
    }

    /// <summary>Restriction to the given output blocks (rows) and input blocks (columns); see <see cref="SubOperator{T}"/>.</summary>
    public LinearOperator<T> Restrict(int[] outputBlocks, int[] inputBlocks) => new SubOperator<T>(this, outputBlocks, inputBlocks);

    /// <summary>A structured sum this + other (spaces already checked), or null for the generic sum node.</summary>
    protected virtual LinearOperator<T>? TryAdd(LinearOperator<T> other) => null;

    /// <summary>A structured α · this (α ≠ 1), or null for the generic scaled node.</summary>
    protected virtual LinearOperator<T>? TryScale(T alpha) => null;

    /// <summary>A structured this · inner (spaces already checked), or null for the generic composition node.</summary>
    protected virtual LinearOperator<T>? TryCompose(LinearOperator<T> inner) => null;

    /// <summary>True when this operator is known (structurally, not numerically) to be the transpose of <paramref name="other"/>.</summary>
    internal virtual bool IsKnownTransposeOf(LinearOperator<T> other)
        => other is TransposedOperator<T> t && ReferenceEquals(t.Parent, this);

    /// <summary>A + B; see <see cref="Add"/>.</summary>
    public static LinearOperator<T> operator +(LinearOperator<T> a, LinearOperator<T> b) => a.Add(b);

    /// <summary>A − B; see <see cref="Subtract"/>.</summary>
    public static LinearOperator<T> operator -(LinearOperator<T> a, LinearOperator<T> b) => a.Subtract(b);

    /// <summary>−A; see <see cref="Negate"/>.</summary>
    public static LinearOperator<T> operator -(LinearOperator<T> a) => a.Negate();

    /// <summary>α A; see <see cref="Scale"/>.</summary>
    public static LinearOperator<T> operator *(T alpha, LinearOperator<T> a) => a.Scale(alpha);

    /// <summary>A α = α A; see <see cref="Scale"/>.</summary>
    public static LinearOperator<T> operator *(LinearOperator<T> a, T alpha) => a.Scale(alpha);

    /// <summary>The composition A B (apply B, then A); see <see cref="Compose"/>.</summary>
    public static LinearOperator<T> operator *(LinearOperator<T> a, LinearOperator<T> b) => a.Compose(b);

    // ------------------------------------------------------------------ messages

    /// <summary>Type name and spaces, e.g. <c>DenseOperator [[5]] &lt;- [[3, 2]]</c> (output &lt;- input).</summary>
    public override string ToString() => Describe();

    internal string Describe()
    {
        var name = GetType().Name;
        int tick = name.IndexOf('`');
        if (tick >= 0) name = name[..tick];
        return $"{name} {OutputSpace} <- {InputSpace}";
    }

    private void CheckSameSpaces(LinearOperator<T> other, string verb)
    {
        if (InputSpace != other.InputSpace || OutputSpace != other.OutputSpace)
            throw new ArgumentException(
                $"Cannot {verb} operators with different spaces: the left operator maps {InputSpace} -> {OutputSpace} " +
                $"but the right operator maps {other.InputSpace} -> {other.OutputSpace}.",
                nameof(other));
    }
}

using CurvNative.Kernels;
using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers;

/// <summary>
/// The truncated Neumann series x = α Σ_{k=0}^{N−1} (I − α M A)^k M b ≈ A⁻¹ b as a linear operator, i.e. N
/// steps of preconditioned Richardson iteration x_{k+1} = x_k + α M (b − A x_k) from x₀ = 0. Without a
/// preconditioner M = I and x = α Σ_k (I − α A)^k b, the inverse-Hessian-vector product of influence
/// functions (Koh and Liang 2017, after Agarwal, Bullins and Hazan 2017, "LiSSA").
/// </summary>
/// <remarks>
/// <para>
/// For symmetric A the series converges to A⁻¹ b exactly when every eigenvalue of M A lies in (0, 2/α),
/// i.e. for positive definite A with α &lt; 2/λ_max(MA); the error after N terms is (I − αMA)^N A⁻¹ b,
/// so it decays like (1 − α λ_min)^N. Outside that range the partial sums diverge: the operator does not
/// check this (it cannot without eigenvalues), so choose α from an upper bound of λ_max, e.g. from
/// <see cref="Eigen.Lanczos"/>.
/// </para>
/// <para>
/// A product with K columns costs N − 1 MatMats with A (and N with M); the sum is accumulated in double.
/// The operator is symmetric when A and M are, since (I − αMA)^k M = M (I − αAM)^k. It is not flagged
/// positive semi-definite: that holds only inside the convergence region.
/// </para>
/// </remarks>
/// <typeparam name="T">Element type (float or double).</typeparam>
public sealed class NeumannInverseOperator<T> : LinearOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The truncated Neumann series of A⁻¹ with scale α and N terms.</summary>
    /// <param name="op">The square operator A.</param>
    /// <param name="scale">α &gt; 0, finite; the series converges for eigenvalues of M A in (0, 2/α).</param>
    /// <param name="terms">Number of terms N ≥ 1 (k = 0 … N−1).</param>
    /// <param name="preconditioner">Optional M on the same space (default identity).</param>
    /// <exception cref="ArgumentException">A is not square, the preconditioner does not fit, α ≤ 0 or N &lt; 1.</exception>
    public NeumannInverseOperator(LinearOperator<T> op, double scale, int terms, LinearOperator<T>? preconditioner = null)
        : base(Validate(op, scale, terms, preconditioner).InputSpace, op.InputSpace,
               isSymmetric: op.IsSymmetric && (preconditioner is null || preconditioner.IsSymmetric))
    {
        Operator = op;
        StepSize = scale;
        Terms = terms;
        Preconditioner = preconditioner;
    }

    private static LinearOperator<T> Validate(LinearOperator<T> op, double scale, int terms, LinearOperator<T>? preconditioner)
    {
        Checks.Square(op, nameof(op), "The Neumann series inverse");
        if (!(scale > 0) || !double.IsFinite(scale))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, $"The Neumann scale α must be a finite positive number (the series converges for eigenvalues in (0, 2/α)), but is {scale}.");
        if (terms < 1)
            throw new ArgumentOutOfRangeException(nameof(terms), terms, $"The Neumann series needs at least 1 term, but got {terms}.");
        if (preconditioner is not null) Checks.SameSpace(op, preconditioner, nameof(preconditioner), "Neumann preconditioner M");
        return op;
    }

    /// <summary>The operator A.</summary>
    public LinearOperator<T> Operator { get; }

    /// <summary>The scale (step size) α.</summary>
    public double StepSize { get; }

    /// <summary>The number of terms N.</summary>
    public int Terms { get; }

    /// <summary>The preconditioner M, or null for the identity.</summary>
    public LinearOperator<T>? Preconditioner { get; }

    /// <summary>α Σ_{k&lt;N} v_k with v₀ = M X and v_{k+1} = v_k − α M (A v_k).</summary>
    protected override Tensor<T> MatMatCore(Tensor<T> x)
    {
        int n = Columns, k = x.Shape[1];
        var v = Preconditioner is null ? DenseKernels.ToDouble<T>(x.Span) : Dense.Apply(Preconditioner, DenseKernels.ToDouble<T>(x.Span), k);
        var acc = (double[])v.Clone();
        for (int term = 1; term < Terms; term++)
        {
            var av = Dense.Apply(Operator, v, k);
            if (Preconditioner is not null) av = Dense.Apply(Preconditioner, av, k);
            for (int i = 0; i < v.Length; i++)
            {
                v[i] -= StepSize * av[i];
                acc[i] += v[i];
            }
        }
        for (int i = 0; i < acc.Length; i++) acc[i] *= StepSize;
        return DenseKernels.ToTensor<T>(acc, n, k);
    }

    /// <summary>(α Σ (I − αMA)^k M)ᵀ = α Σ (I − αMᵀAᵀ)^k Mᵀ: the series of Aᵀ with Mᵀ.</summary>
    protected override LinearOperator<T> TransposeCore()
        => new NeumannInverseOperator<T>(Operator.Transpose(), StepSize, Terms, Preconditioner?.Transpose());
}

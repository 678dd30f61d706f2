using CurvNative.Native;
using CurvNative.Operators;
using CurvNative.Tensors;

namespace CurvNative.Pinn;

/// <summary>
/// The residual map linearised at theta: the scaled residuals r [N] and their Jacobian J = dr/dtheta [N, P]. From them:
/// the loss 1/2 ||r||^2, its gradient J^T r, the ENGD Gramian G = J^T J (P x P, as a <see cref="LinearOperator{T}"/> so
/// every solver and estimator of the library applies) and its sample-space twin, the kernel K = J J^T (N x N).
/// </summary>
public sealed class ResidualLinearization
{
    /// <summary>Wraps r [N] and J [N, P] (not copied) with the parameter space (dimension P).</summary>
    public ResidualLinearization(Tensor<double> residual, Tensor<double> jacobian, Space parameterSpace)
    {
        ArgumentNullException.ThrowIfNull(residual);
        ArgumentNullException.ThrowIfNull(jacobian);
        ArgumentNullException.ThrowIfNull(parameterSpace);
        if (residual.Rank != 1 || jacobian.Rank != 2 || jacobian.Shape[0] != residual.Shape[0] || jacobian.Shape[1] != parameterSpace.Dimension)
            throw new ArgumentException($"Expected r [N] and J [N, {parameterSpace.Dimension}], got {Shape.Format(residual.Shape)} and {Shape.Format(jacobian.Shape)}.");
        Residual = residual;
        Jacobian = jacobian;
        ParameterSpace = parameterSpace;
    }

    /// <summary>r [N].</summary>
    public Tensor<double> Residual { get; }

    /// <summary>J [N, P], row n = dr_n/dtheta.</summary>
    public Tensor<double> Jacobian { get; }

    /// <summary>The parameter space.</summary>
    public Space ParameterSpace { get; }

    /// <summary>N, the number of residuals.</summary>
    public int Rows => Jacobian.Shape[0];

    /// <summary>P, the number of parameters.</summary>
    public int Columns => Jacobian.Shape[1];

    /// <summary>L = 1/2 ||r||^2.</summary>
    public double Loss => ResidualMap.HalfSquaredNorm(Residual.Span);

    /// <summary>grad L = J^T r [P].</summary>
    public Tensor<double> Gradient() => TransposeTimes(Residual.Span);

    /// <summary>J^T v [P] for v [N].</summary>
    public Tensor<double> TransposeTimes(ReadOnlySpan<double> v)
    {
        if (v.Length != Rows) throw new ArgumentException($"Expected a vector of {Rows} entries, got {v.Length}.");
        var result = Tensor<double>.Uninitialized(Columns);
        Blas.Gemm(true, false, Columns, 1, Rows, 1.0, Jacobian.Span, Columns, v, 1, 0.0, result.Span, 1);
        return result;
    }

    /// <summary>J v [N] for v [P].</summary>
    public Tensor<double> Times(ReadOnlySpan<double> v)
    {
        if (v.Length != Columns) throw new ArgumentException($"Expected a vector of {Columns} entries, got {v.Length}.");
        var result = Tensor<double>.Uninitialized(Rows);
        Blas.Gemm(false, false, Rows, 1, Columns, 1.0, Jacobian.Span, Columns, v, 1, 0.0, result.Span, 1);
        return result;
    }

    /// <summary>The Gramian G = J^T J on the parameter space, as an operator (symmetric PSD; G X by two GEMMs).</summary>
    public LinearOperator<double> Gramian()
    {
        var j = JacobianOperator();
        return j.Transpose().Compose(j);
    }

    /// <summary>The kernel K = J J^T on R^N, as an operator (symmetric PSD).</summary>
    public LinearOperator<double> Kernel()
    {
        var j = JacobianOperator();
        return j.Compose(j.Transpose());
    }

    /// <summary>J as an operator from the parameter space to R^N.</summary>
    public LinearOperator<double> JacobianOperator() => new DenseOperator<double>(Jacobian, Space.Flat(Rows), ParameterSpace);

    /// <summary>K = J J^T as a full symmetric N x N matrix (one SYRK: N^2 P flops, then the mirror); in
    /// <paramref name="workspace"/>'s kernel buffer when given (valid until its next use).</summary>
    public double[] KernelMatrix(StepWorkspace? workspace = null) => Gram(transposed: false, workspace);

    /// <summary>G = J^T J as a full symmetric P x P matrix (one SYRK: P^2 N flops, then the mirror).</summary>
    public double[] GramianMatrix() => Gram(transposed: true, null);

    private double[] Gram(bool transposed, StepWorkspace? workspace)
    {
        int size = transposed ? Columns : Rows, inner = transposed ? Rows : Columns;
        var g = workspace is null ? new double[(long)size * size] : workspace.Kernel((long)size * size);
        Blas.Syrk(transposed, size, inner, 1.0, Jacobian.Span, Columns, 0.0, g, size);
        DampedSolve.MirrorUpper(g, size);
        return g;
    }
}

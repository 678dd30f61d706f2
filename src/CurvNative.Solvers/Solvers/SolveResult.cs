using System.Collections.Immutable;
using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Solvers;

/// <summary>How an iterative solve ended. Ordered from best to worst: a batch reports its worst column.</summary>
public enum SolveStatus
{
    /// <summary>The true relative residual ‖b − (A + λI) x‖ / ‖b‖ is at most the tolerance.</summary>
    Converged = 0,

    /// <summary>The iteration limit was reached before the tolerance; the solution is the last iterate.</summary>
    MaxIterations = 1,

    /// <summary>The tolerance is below the accuracy attainable in the element type for this system: the true
    /// residual stagnated above it, or CG met a direction whose curvature pᵀ(A + λI)p is at rounding level
    /// (A + λI singular or too ill-conditioned). The solution is the best iterate; its residual is reported.
    /// Use a larger tolerance or more damping.</summary>
    ToleranceNotAttainable = 2,

    /// <summary>CG met a direction p with pᵀ (A + λI) p clearly below zero (beyond rounding): the operator is not
    /// positive definite. The solution is the iterate before that step. Use MINRES, or increase the damping λ.</summary>
    IndefiniteDetected = 3,

    /// <summary>The recurrence cannot continue: a NaN or infinity appeared or the preconditioner is not
    /// positive definite.</summary>
    Breakdown = 4,
}

/// <summary>Options of the Krylov solvers (<see cref="ConjugateGradient{T}"/>, <see cref="Minres{T}"/>).</summary>
public sealed record SolverOptions
{
    /// <summary>Relative tolerance: stop when ‖b − (A + λI) x‖₂ ≤ Tolerance · ‖b‖₂ (the true residual is checked
    /// before convergence is reported). Default 1e-8.</summary>
    public double Tolerance { get; init; } = 1e-8;

    /// <summary>Maximum number of iterations (operator products) per right-hand side; null means max(10 n, 100) (in finite precision CG and MINRES can need more than n iterations on ill-conditioned systems).</summary>
    public int? MaxIterations { get; init; }

    /// <summary>Damping λ: solve (A + λ I) x = b. The shift is applied inside the iteration, no sum operator is built. Default 0.</summary>
    public double Damping { get; init; }

    /// <summary>Throw a <see cref="SolveFailedException"/> instead of returning a result whose status is not
    /// <see cref="SolveStatus.Converged"/>. Default false: failure is reported through the status.</summary>
    public bool ThrowOnFailure { get; init; }

    /// <summary>
    /// How many times a column whose recursive residual met the tolerance but whose true residual did not is
    /// restarted from its current iterate (the recursive residual drifts from the true one in finite precision).
    /// Default 3; after that the column ends with <see cref="SolveStatus.ToleranceNotAttainable"/> (stagnation).
    /// </summary>
    public int MaxRestarts { get; init; } = 3;

    internal void Validate()
    {
        if (!(Tolerance > 0) || !double.IsFinite(Tolerance))
            throw new ArgumentOutOfRangeException(nameof(Tolerance), Tolerance, $"The tolerance must be a finite positive number but is {Tolerance}.");
        if (MaxIterations is int m && m < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxIterations), m, $"MaxIterations must be non-negative but is {m}.");
        if (!double.IsFinite(Damping))
            throw new ArgumentOutOfRangeException(nameof(Damping), Damping, $"The damping must be finite but is {Damping}.");
        if (MaxRestarts < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxRestarts), MaxRestarts, $"MaxRestarts must be non-negative but is {MaxRestarts}.");
    }

    internal int IterationLimit(int n) => MaxIterations ?? Math.Max(10 * n, 100);
}

/// <summary>
/// The result of an iterative solve of (A + λI) X = B for one right-hand side (b of shape [n]) or K of
/// them (B of shape [n, K], solved together with one MatMat per iteration). Batch summaries report the
/// worst column; the per-column values are in <see cref="ColumnStatuses"/>, <see cref="ColumnIterations"/>
/// and <see cref="ColumnResidualNorms"/>.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
public sealed class SolveResult<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal SolveResult(Tensor<T> solution, SolveStatus[] statuses, int[] iterations, double[] residuals, int matVecs, string message)
    {
        Solution = solution;
        ColumnStatuses = [.. statuses];
        ColumnIterations = [.. iterations];
        ColumnResidualNorms = [.. residuals];
        Status = statuses.Length == 0 ? SolveStatus.Converged : statuses.Max();
        Iterations = iterations.Length == 0 ? 0 : iterations.Max();
        ResidualNorm = residuals.Length == 0 ? 0 : residuals.Max();
        MatVecs = matVecs;
        Message = message;
    }

    /// <summary>The solution x, of the shape of the right-hand side ([n] or [n, K]).</summary>
    public Tensor<T> Solution { get; }

    /// <summary>The worst status over the columns.</summary>
    public SolveStatus Status { get; }

    /// <summary>True when every column converged.</summary>
    public bool Converged => Status == SolveStatus.Converged;

    /// <summary>The largest number of iterations over the columns.</summary>
    public int Iterations { get; }

    /// <summary>The largest true relative residual ‖b − (A + λI) x‖₂ / ‖b‖₂ over the columns (0 for b = 0).</summary>
    public double ResidualNorm { get; }

    /// <summary>Number of vectors multiplied by the operator in total (each column of each MatMat counts once),
    /// including the true-residual checks.</summary>
    public int MatVecs { get; }

    /// <summary>What happened, with an actionable hint when the solve did not converge.</summary>
    public string Message { get; }

    /// <summary>Status of each column.</summary>
    public ImmutableArray<SolveStatus> ColumnStatuses { get; }

    /// <summary>Iterations of each column.</summary>
    public ImmutableArray<int> ColumnIterations { get; }

    /// <summary>True relative residual of each column.</summary>
    public ImmutableArray<double> ColumnResidualNorms { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Status} after {Iterations} iterations, relative residual {ResidualNorm:G3}: {Message}";
}

/// <summary>Thrown by a solver created with <see cref="SolverOptions.ThrowOnFailure"/> when a solve does not converge.</summary>
public sealed class SolveFailedException : Exception
{
    /// <summary>An exception carrying the failed result's status, iteration count and residual.</summary>
    public SolveFailedException(string message, SolveStatus status, int iterations, double residualNorm) : base(message)
    {
        Status = status;
        Iterations = iterations;
        ResidualNorm = residualNorm;
    }

    /// <summary>The (worst) status of the failed solve.</summary>
    public SolveStatus Status { get; }

    /// <summary>Iterations performed (largest over the columns).</summary>
    public int Iterations { get; }

    /// <summary>The largest true relative residual over the columns.</summary>
    public double ResidualNorm { get; }
}

using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;
using CurvNative.Tensors;

namespace CurvNative.Solvers;

/// <summary>
/// Preconditioned conjugate gradients (Hestenes and Stiefel 1952) for (A + λI) x = b with A symmetric and
/// A + λI positive definite. With r₀ = b − (A + λI) x₀, z₀ = M r₀, p₀ = z₀, each iteration computes
/// α = rᵀz / pᵀ(A + λI)p, x ← x + α p, r ← r − α (A + λI) p, z = M r, β = r'ᵀz' / rᵀz, p ← z' + β p.
/// In exact arithmetic it minimises the (A + λI)-norm of the error over the Krylov space, converging in at
/// most n iterations, with error reduced per iteration by about (√κ − 1)/(√κ + 1), κ = cond(M(A + λI)).
/// </summary>
/// <remarks>
/// CG refuses an operator that is not flagged symmetric. Positive definiteness is checked as the iteration
/// goes: a direction with pᵀ(A + λI)p ≤ 0 beyond rounding ends the column with <see cref="SolveStatus.IndefiniteDetected"/>
/// (use <see cref="Minres{T}"/> for symmetric indefinite systems such as the Hessian, or increase λ); one with
/// |pᵀ(A + λI)p| ≤ n ε(T) · max Rayleigh quotient seen · ‖p‖² is zero curvature to working precision (a singular or
/// too ill-conditioned PSD system, or a tolerance below attainable accuracy) and ends with
/// <see cref="SolveStatus.ToleranceNotAttainable"/>.
/// The preconditioner M ≈ (A + λI)⁻¹ may be any symmetric positive definite <see cref="LinearOperator{T}"/>.
/// </remarks>
/// <typeparam name="T">Element type (float or double).</typeparam>
public sealed class ConjugateGradient<T> : KrylovSolver<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Sets up CG for <paramref name="op"/> (validation only; CG needs no factorisation).</summary>
    /// <param name="op">Symmetric operator A (with A + λI positive definite).</param>
    /// <param name="preconditioner">Optional symmetric positive definite M ≈ (A + λI)⁻¹ on the same space.</param>
    /// <param name="options">Tolerance, iteration limit, damping λ, failure behaviour.</param>
    /// <exception cref="ArgumentException">A is not square or not flagged symmetric, or the preconditioner does not fit.</exception>
    public ConjugateGradient(LinearOperator<T> op, LinearOperator<T>? preconditioner = null, SolverOptions? options = null)
        : base(op, preconditioner, options, "Conjugate gradients",
               "CG needs a symmetric positive definite operator; for a non-symmetric A solve the normal equations AᵀA x = Aᵀb (A.Transpose() * A is flagged symmetric PSD).")
    { }

    private protected override void Run(State s)
    {
        int n = s.N, k = s.K;
        var r = new double[n * k];
        var p = new double[n * k];
        var q = new double[n * k];
        var z = s.HasPreconditioner ? new double[n * k] : r;
        var rz = new double[k];
        var pq = new double[k];
        var rr = new double[k];
        var alpha = new double[k];
        var beta = new double[k];
        var negAlpha = new double[k];
        var pp = new double[k];
        var curvature = new double[k]; // largest Rayleigh quotient pᵀ(A + λI)p / pᵀp seen: a lower bound of ‖A + λI‖
        double rounding = Math.Max(1, n) * Precision.Epsilon<T>();

        // r = b − (A + λI) x₀ (a product only when there is a guess).
        var cols = Block.Indices(s.Active);
        if (s.HasGuess) s.TrueResidual(cols, r);
        else Block.Copy(s.B, r, n, k, s.Active);
        StartDirections(s, cols, r, z, p, rz);

        int maxIt = s.MaxIterations;
        while (true)
        {
            // Convergence of the recursive residual, confirmed by the true residual.
            Block.Dots(r, r, n, k, s.Active, rr);
            var candidates = new List<int>();
            foreach (var c in Block.Indices(s.Active))
                if (Math.Sqrt(rr[c]) <= s.Tolerance * s.BNorm[c]) candidates.Add(c);
            if (candidates.Count > 0)
            {
                var restart = new List<int>();
                var rel = s.TrueResidual([.. candidates], r);
                foreach (var c in candidates)
                {
                    if (rel[c] <= s.Tolerance) s.Finish(c, SolveStatus.Converged, rel[c], "converged");
                    else if (s.Restarts[c] < s.MaxRestarts && s.Iterations[c] < maxIt) { s.Restarts[c]++; restart.Add(c); }
                    else s.Finish(c, SolveStatus.ToleranceNotAttainable, rel[c],
                        $"tolerance not attainable: the recursive residual met the tolerance but the true relative residual stagnated at {rel[c]:G3} > {s.Tolerance:G3} after {s.Restarts[c]} restarts: the tolerance is below the accuracy attainable in {typeof(T).Name}");
                }
                // The true residual is now in r for the restarted columns: restart the directions from it.
                StartDirections(s, [.. restart], r, z, p, rz);
            }
            s.FinishAtLimit();
            cols = Block.Indices(s.Active);
            if (cols.Length == 0) break;

            // q = (A + λI) p; α = rᵀz / pᵀq.
            s.ApplyOperator(p, cols, q);
            Block.Dots(p, q, n, k, s.Active, pq);
            Block.Dots(p, p, n, k, s.Active, pp);
            var ended = new List<int>();
            foreach (var c in cols)
            {
                s.Iterations[c]++;
                if (!double.IsFinite(pq[c]))
                {
                    s.Finish(c, SolveStatus.Breakdown, double.NaN, $"pᵀ(A + λI)p = {pq[c]} at iteration {s.Iterations[c]}: the operator produced NaN or infinite values");
                    ended.Add(c);
                }
                else if (pq[c] <= 0 && -pq[c] <= rounding * curvature[c] * pp[c])
                {
                    // Zero curvature up to the rounding of the products (n ε ‖A + λI‖ ‖p‖²): A + λI is singular or too
                    // ill-conditioned for this tolerance in T, which is not evidence of a negative eigenvalue.
                    s.Finish(c, SolveStatus.ToleranceNotAttainable, double.NaN,
                        $"tolerance not attainable: pᵀ(A + λI)p = {pq[c]:G3} at iteration {s.Iterations[c]} is at rounding level ({rounding:G2} x the largest curvature {curvature[c]:G3} seen): A + λI (λ = {Options.Damping:G3}) is singular or too ill-conditioned in {typeof(T).Name} for tolerance {s.Tolerance:G3}; use a larger tolerance or more damping");
                    ended.Add(c);
                }
                else if (pq[c] <= 0)
                {
                    s.Finish(c, SolveStatus.IndefiniteDetected, double.NaN,
                        $"pᵀ(A + λI)p = {pq[c]:G3} <= 0 at iteration {s.Iterations[c]}: A + λI is not positive definite (λ = {Options.Damping:G3}); use MINRES for symmetric indefinite systems or increase the damping");
                    ended.Add(c);
                }
                else
                {
                    curvature[c] = Math.Max(curvature[c], pq[c] / pp[c]);
                    alpha[c] = rz[c] / pq[c];
                    negAlpha[c] = -alpha[c];
                }
            }
            s.ReportResiduals([.. ended]);
            Block.Axpy(alpha, p, s.X, n, k, s.Active);
            Block.Axpy(negAlpha, q, r, n, k, s.Active);

            // z = M r; β = r'ᵀz' / rᵀz; p = z + β p.
            cols = Block.Indices(s.Active);
            if (s.HasPreconditioner) s.ApplyPreconditioner(r, cols, z);
            var rzNew = new double[k];
            Block.Dots(r, z, n, k, s.Active, rzNew);
            ended.Clear();
            foreach (var c in cols)
            {
                if (!double.IsFinite(rzNew[c]) || rzNew[c] < 0)
                {
                    s.Finish(c, SolveStatus.Breakdown, double.NaN,
                        rzNew[c] < 0
                            ? $"rᵀMr = {rzNew[c]:G3} < 0 at iteration {s.Iterations[c]}: the preconditioner is not positive definite"
                            : $"rᵀMr = {rzNew[c]} at iteration {s.Iterations[c]}: NaN or infinite values appeared");
                    ended.Add(c);
                    continue;
                }
                beta[c] = rz[c] == 0 ? 0 : rzNew[c] / rz[c];
                rz[c] = rzNew[c];
            }
            s.ReportResiduals([.. ended]);
            Block.Xpby(z, beta, p, n, k, s.Active);
        }
    }

    /// <summary>z = M r, p = z, rz = rᵀz for the given columns; a column with rᵀMr &lt; 0 or non-finite breaks down.</summary>
    private static void StartDirections(State s, int[] cols, double[] r, double[] z, double[] p, double[] rz)
    {
        if (cols.Length == 0) return;
        int n = s.N, k = s.K;
        var mask = new bool[k];
        foreach (var c in cols) mask[c] = true;
        if (s.HasPreconditioner) s.ApplyPreconditioner(r, cols, z);
        Block.Copy(z, p, n, k, mask);
        Block.Dots(r, z, n, k, mask, rz);
        var ended = new List<int>();
        foreach (var c in cols)
            if (!double.IsFinite(rz[c]) || rz[c] < 0)
            {
                s.Finish(c, SolveStatus.Breakdown, double.NaN,
                    rz[c] < 0 ? $"rᵀMr = {rz[c]:G3} < 0: the preconditioner is not positive definite" : "NaN or infinite values in the initial residual");
                ended.Add(c);
            }
        s.ReportResiduals([.. ended]);
    }
}

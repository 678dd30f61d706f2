using System.Numerics;
using CurvNative.Operators;
using CurvNative.Solvers.Internal;

namespace CurvNative.Solvers;

/// <summary>
/// MINRES (Paige and Saunders 1975, "Solution of sparse indefinite systems of linear equations", SIAM J.
/// Numer. Anal. 12) for (A + λI) x = b with A symmetric, possibly indefinite (such as the Hessian of a loss).
/// The symmetric Lanczos process builds the tridiagonal Tₖ of the Krylov space; x_k minimises ‖b − (A + λI) x‖
/// over x₀ + 𝒦ₖ, obtained by updating a QR factorisation of Tₖ with Givens rotations, so the residual norm
/// decreases monotonically and is known without forming it (φ̄ₖ).
/// </summary>
/// <remarks>
/// With a preconditioner M (symmetric positive definite, any <see cref="LinearOperator{T}"/>) the minimised
/// norm is the M-norm of the residual; convergence is always confirmed with the true 2-norm residual
/// ‖b − (A + λI)x‖₂ ≤ tol ‖b‖₂. The recurrences follow the reference implementation of Paige and Saunders
/// (as in SciPy's minres), one set of scalars per right-hand side.
/// </remarks>
/// <typeparam name="T">Element type (float or double).</typeparam>
public sealed class Minres<T> : KrylovSolver<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Sets up MINRES for <paramref name="op"/> (validation only).</summary>
    /// <param name="op">Symmetric operator A (A + λI may be indefinite, should be non-singular).</param>
    /// <param name="preconditioner">Optional symmetric positive definite M on the same space.</param>
    /// <param name="options">Tolerance, iteration limit, damping λ, failure behaviour.</param>
    /// <exception cref="ArgumentException">A is not square or not flagged symmetric, or the preconditioner does not fit.</exception>
    public Minres(LinearOperator<T> op, LinearOperator<T>? preconditioner = null, SolverOptions? options = null)
        : base(op, preconditioner, options, "MINRES",
               "MINRES needs a symmetric operator; for a non-symmetric A use the normal equations AᵀA x = Aᵀb.")
    { }

    private protected override void Run(State s)
    {
        int n = s.N, k = s.K;
        double[] r1 = new double[n * k], r2 = new double[n * k], y = new double[n * k], v = new double[n * k];
        double[] w = new double[n * k], w1 = new double[n * k], w2 = new double[n * k];
        var beta1 = new double[k]; var beta = new double[k]; var oldb = new double[k];
        var dbar = new double[k]; var epsln = new double[k]; var phibar = new double[k];
        var cs = new double[k]; var sn = new double[k]; var r0Norm = new double[k];
        var steps = new int[k];
        var tmp = new double[k];
        int maxIt = s.MaxIterations;

        void Start(int[] cols, bool residualInR1)
        {
            if (cols.Length == 0) return;
            var mask = new bool[k];
            foreach (var c in cols) mask[c] = true;
            if (!residualInR1)
            {
                if (s.HasGuess) s.TrueResidual(cols, r1);
                else Block.Copy(s.B, r1, n, k, mask);
            }
            s.ApplyPreconditioner(r1, cols, y);
            Block.Dots(r1, y, n, k, mask, beta1);
            Block.Dots(r1, r1, n, k, mask, r0Norm);
            var ended = new List<int>();
            foreach (var c in cols)
            {
                r0Norm[c] = Math.Sqrt(r0Norm[c]);
                if (!double.IsFinite(beta1[c]) || beta1[c] < 0)
                {
                    s.Finish(c, SolveStatus.Breakdown, double.NaN,
                        beta1[c] < 0 ? $"rᵀMr = {beta1[c]:G3} < 0: the preconditioner is not positive definite" : "NaN or infinite values in the initial residual");
                    ended.Add(c);
                    continue;
                }
                beta1[c] = Math.Sqrt(beta1[c]);
                beta[c] = beta1[c]; oldb[c] = 0; dbar[c] = 0; epsln[c] = 0; phibar[c] = beta1[c];
                cs[c] = -1; sn[c] = 0; steps[c] = 0;
            }
            s.ReportResiduals([.. ended]);
            Block.Clear(w, n, k, mask);
            Block.Clear(w2, n, k, mask);
            Block.Copy(r1, r2, n, k, mask);
        }

        Start(Block.Indices(s.Active), residualInR1: false);
        while (true)
        {
            // Convergence of the recursive residual estimate φ̄ (‖r‖₂ without a preconditioner, ‖r‖_M with one,
            // scaled to the 2-norm at the start), confirmed by the true residual.
            var candidates = new List<int>();
            foreach (var c in Block.Indices(s.Active))
            {
                double scale = beta1[c] > 0 ? r0Norm[c] / beta1[c] : 1;
                if (phibar[c] * scale <= s.Tolerance * s.BNorm[c]) candidates.Add(c);
            }
            if (candidates.Count > 0)
            {
                var restart = new List<int>();
                var rel = s.TrueResidual([.. candidates], r1);
                foreach (var c in candidates)
                {
                    if (rel[c] <= s.Tolerance) s.Finish(c, SolveStatus.Converged, rel[c], "converged");
                    else if (s.Restarts[c] < s.MaxRestarts && s.Iterations[c] < maxIt) { s.Restarts[c]++; restart.Add(c); }
                    else s.Finish(c, SolveStatus.ToleranceNotAttainable, rel[c],
                        $"tolerance not attainable: the recursive residual met the tolerance but the true relative residual stagnated at {rel[c]:G3} > {s.Tolerance:G3} after {s.Restarts[c]} restarts: the tolerance is below the accuracy attainable in {typeof(T).Name}, or the system is singular");
                }
                Start([.. restart], residualInR1: true);
            }
            s.FinishAtLimit();
            var cols = Block.Indices(s.Active);
            if (cols.Length == 0) break;
            var act = s.Active;

            // Lanczos step: v = y/β, y = (A + λI) v − (β/β_old) r1 − (α/β) r2.
            for (int c = 0; c < k; c++) tmp[c] = act[c] ? 1.0 / beta[c] : 0;
            for (int i = 0; i < n; i++)
                foreach (var c in cols) v[i * k + c] = tmp[c] * y[i * k + c];
            s.ApplyOperator(v, cols, y);
            for (int c = 0; c < k; c++) tmp[c] = act[c] && steps[c] >= 1 ? -beta[c] / oldb[c] : 0;
            Block.Axpy(tmp, r1, y, n, k, act);
            var alfa = new double[k];
            Block.Dots(v, y, n, k, act, alfa);
            for (int c = 0; c < k; c++) tmp[c] = act[c] ? -alfa[c] / beta[c] : 0;
            Block.Axpy(tmp, r2, y, n, k, act);
            (r1, r2, y) = (r2, y, r1);                     // r1 ← r2, r2 ← y
            s.ApplyPreconditioner(r2, cols, y);
            var betaNew = new double[k];
            Block.Dots(r2, y, n, k, act, betaNew);

            var phi = new double[k];
            var oldeps = new double[k];
            var delta = new double[k];
            var gammaInv = new double[k];
            var ended = new List<int>();
            foreach (var c in cols)
            {
                s.Iterations[c]++;
                steps[c]++;
                if (!double.IsFinite(alfa[c]) || !double.IsFinite(betaNew[c]) || betaNew[c] < 0)
                {
                    s.Finish(c, SolveStatus.Breakdown, double.NaN,
                        betaNew[c] < 0
                            ? $"rᵀMr = {betaNew[c]:G3} < 0 at iteration {s.Iterations[c]}: the preconditioner is not positive definite"
                            : $"NaN or infinite values appeared at iteration {s.Iterations[c]} (α = {alfa[c]}, β² = {betaNew[c]})");
                    ended.Add(c);
                    continue;
                }
                oldb[c] = beta[c];
                beta[c] = Math.Sqrt(betaNew[c]);
                // Apply the previous rotation, then compute and apply the next one.
                oldeps[c] = epsln[c];
                delta[c] = cs[c] * dbar[c] + sn[c] * alfa[c];
                double gbar = sn[c] * dbar[c] - cs[c] * alfa[c];
                epsln[c] = sn[c] * beta[c];
                dbar[c] = -cs[c] * beta[c];
                double gamma = Math.Max(double.Hypot(gbar, beta[c]), double.Epsilon);
                cs[c] = gbar / gamma;
                sn[c] = beta[c] / gamma;
                phi[c] = cs[c] * phibar[c];
                phibar[c] = sn[c] * phibar[c];
                gammaInv[c] = 1.0 / gamma;
            }
            s.ReportResiduals([.. ended]);

            // w1 ← w2, w2 ← w, w = (v − ε_old w1 − δ w2)/γ; x ← x + φ w.
            (w1, w2, w) = (w2, w, w1);
            act = s.Active;
            for (int i = 0; i < n; i++)
            {
                int o = i * k;
                for (int c = 0; c < k; c++)
                {
                    if (!act[c]) continue;
                    double wn = (v[o + c] - oldeps[c] * w1[o + c] - delta[c] * w2[o + c]) * gammaInv[c];
                    w[o + c] = wn;
                    s.X[o + c] += phi[c] * wn;
                }
            }
        }
    }
}

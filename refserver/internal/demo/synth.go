package demo

import (
	"fmt"
	"math/rand/v2"
	"time"
)

var (
	femaleNames = []string{"María", "Lucía", "Carmen", "Ana", "Isabel", "Laura", "Sofía", "Elena", "Paula", "Marta",
		"Cristina", "Pilar", "Rosa", "Teresa", "Julia", "Alba", "Sara", "Claudia", "Beatriz", "Natalia",
		"Valentina", "Camila", "Daniela", "Gabriela", "Inés", "Lorena", "Noelia", "Rocío", "Victoria", "Adriana"}
	maleNames = []string{"José", "Antonio", "Manuel", "Francisco", "Juan", "David", "Javier", "Daniel", "Carlos", "Miguel",
		"Alejandro", "Pablo", "Sergio", "Jorge", "Luis", "Alberto", "Álvaro", "Diego", "Fernando", "Raúl",
		"Andrés", "Santiago", "Mateo", "Hugo", "Iván", "Rubén", "Óscar", "Ignacio", "Gonzalo", "Emilio"}
	surnames = []string{"García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
		"Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso", "Gutiérrez",
		"Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano", "Blanco", "Molina",
		"Morales", "Suárez", "Ortega", "Delgado", "Castro", "Ortiz", "Rubio", "Marín", "Sanz", "Núñez"}
	streets = []string{"Calle Mayor", "Avenida de la Constitución", "Calle Real", "Paseo de la Castellana", "Calle del Sol",
		"Avenida de América", "Calle San Juan", "Plaza de España", "Calle Alcalá", "Calle de la Paz"}
	cities = []string{"Madrid", "Sevilla", "Valencia", "Zaragoza", "Málaga", "Bilbao", "Granada", "Salamanca", "Toledo", "Murcia"}

	// Conditions: ICD-10 code and text.
	conditions = [][2]string{
		{"I10", "Hipertensión esencial (primaria)"}, {"E11.9", "Diabetes mellitus tipo 2 sin complicaciones"},
		{"J45.909", "Asma no especificada"}, {"E78.5", "Hiperlipidemia no especificada"},
		{"K21.9", "Enfermedad por reflujo gastroesofágico"}, {"M54.5", "Lumbalgia"},
		{"F41.1", "Trastorno de ansiedad generalizada"}, {"J44.9", "EPOC no especificada"},
		{"N39.0", "Infección de vías urinarias"}, {"I48.91", "Fibrilación auricular no especificada"},
	}
	allergies = []string{"Penicilina", "Ácido acetilsalicílico", "Látex", "Ibuprofeno", "Mariscos", "Sulfamidas", "Polen"}
	// Medications: name, dose, unit, route, frequency.
	medications = [][5]string{
		{"Enalapril", "10", "mg", "oral", "cada 12 horas"}, {"Metformina", "850", "mg", "oral", "cada 12 horas"},
		{"Salbutamol", "100", "mcg", "inhalada", "a demanda"}, {"Atorvastatina", "20", "mg", "oral", "cada noche"},
		{"Omeprazol", "20", "mg", "oral", "en ayunas"}, {"Paracetamol", "1", "g", "oral", "cada 8 horas"},
		{"Sertralina", "50", "mg", "oral", "cada mañana"}, {"Apixabán", "5", "mg", "oral", "cada 12 horas"},
	}
	wards = []string{"Medicina interna", "Cirugía", "Cardiología", "Neumología", "Traumatología"}
)

// Person is one synthetic patient: everything the seed writes about them,
// made from a seeded generator so that a run is reproducible.
type Person struct {
	DocumentType   string
	DocumentNumber string
	GivenName      string
	FamilyName     string // two surnames, Spanish style
	BirthDate      time.Time
	Sex            string // "female" or "male"
	Phone          string
	Email          string
	Address        string
	City           string
	Emergency      string
	EmergencyPhone string
	Conditions     [][2]string
	Allergies      []string
	Medications    [][5]string
	// Inpatient patients are admitted to Ward, bed Bed.
	Inpatient bool
	Ward      string
	Bed       string
	// Vitals are measurements at days before now (0 = today).
	Vitals []Vital
}

// Vital is one set of vital signs.
type Vital struct {
	DaysAgo     int
	HeartRate   float64
	Systolic    float64
	Diastolic   float64
	Temperature float64
	SpO2        float64
}

// People returns n synthetic patients from seed.
func People(seed uint64, n int) []Person {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	out := make([]Person, n)
	for i := range out {
		p := &out[i]
		if r.IntN(2) == 0 {
			p.Sex, p.GivenName = "female", pick(femaleNames)
		} else {
			p.Sex, p.GivenName = "male", pick(maleNames)
		}
		p.FamilyName = pick(surnames) + " " + pick(surnames)
		p.DocumentType = "DNI"
		p.DocumentNumber = fmt.Sprintf("%08d%c", 10000000+i*7919%89999999, "TRWAGMYFPDXBNJZSQVHLCKE"[(10000000+i*7919%89999999)%23])
		age := 1 + r.IntN(90)
		p.BirthDate = time.Date(time.Now().Year()-age, time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		p.Phone = fmt.Sprintf("+34 6%02d %03d %03d", r.IntN(100), r.IntN(1000), r.IntN(1000))
		p.Email = fmt.Sprintf("paciente%d@example.org", i+1)
		p.City = pick(cities)
		p.Address = fmt.Sprintf("%s %d, %s", pick(streets), 1+r.IntN(150), p.City)
		p.Emergency = pick(femaleNames) + " " + pick(surnames)
		p.EmergencyPhone = fmt.Sprintf("+34 6%02d %03d %03d", r.IntN(100), r.IntN(1000), r.IntN(1000))
		for _, j := range r.Perm(len(conditions))[:r.IntN(3)] {
			p.Conditions = append(p.Conditions, conditions[j])
		}
		if r.IntN(3) == 0 {
			p.Allergies = append(p.Allergies, pick(allergies))
		}
		for _, j := range r.Perm(len(medications))[:r.IntN(3)] {
			p.Medications = append(p.Medications, medications[j])
		}
		p.Inpatient = r.IntN(5) == 0
		if p.Inpatient {
			p.Ward = pick(wards)
			p.Bed = fmt.Sprintf("%d%02d", 1+r.IntN(5), 1+r.IntN(30))
		}
		hr, sys, dia, temp, spo2 := 60+r.Float64()*30, 105+r.Float64()*40, 65+r.Float64()*20, 36.2+r.Float64()*0.8, 94+r.Float64()*5
		weeks := 2 + r.IntN(4)
		for d := weeks * 7; d >= 0; d -= 1 + r.IntN(4) {
			p.Vitals = append(p.Vitals, Vital{DaysAgo: d,
				HeartRate:   round1(hr + r.NormFloat64()*6),
				Systolic:    round1(sys + r.NormFloat64()*8),
				Diastolic:   round1(dia + r.NormFloat64()*5),
				Temperature: round1(temp + r.NormFloat64()*0.3),
				SpO2:        min(100, round1(spo2+r.NormFloat64())),
			})
		}
	}
	return out
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }
